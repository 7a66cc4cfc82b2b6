"""The api creates its bucket and queues even when they answer only after it started."""

import tempfile
import types

import core
from api import startup
from storage.objects.local import LocalObjectStore


class LateBackends:
    """Backends whose ensure() fails `failures` times as an unreachable server would."""

    def __init__(self, failures: int, expiry_error: Exception | None = None):
        self.failures = failures
        self.ensure_calls = 0
        self.expiries = []
        self.expiry_error = expiry_error
        self.jobs = types.SimpleNamespace(expire_after=self._expire_after)
        # A real folder store for the start-up permission probes; no queues to probe.
        self.objects = LocalObjectStore(tempfile.mkdtemp(prefix="thumbnails-startup-"))
        self.queues: list = []

    def ensure(self):
        self.ensure_calls += 1
        if self.ensure_calls <= self.failures:
            raise core.TransientError("queue thumbnails-high: connection refused")

    def _expire_after(self, retention_seconds):
        if self.expiry_error:
            raise self.expiry_error
        self.expiries.append(retention_seconds)


def test_reachable_at_start_up_sets_up_at_once():
    backends = LateBackends(failures=0)
    assert startup.set_up_or_retry(backends, 3600) is None
    assert backends.ensure_calls == 1 and backends.expiries == [3600]


def test_unreachable_at_start_up_keeps_trying_until_it_is_set_up():
    backends = LateBackends(failures=3)
    thread = startup.set_up_or_retry(backends, 3600, first_retry_seconds=0.01)
    assert thread is not None and thread.daemon
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert backends.ensure_calls == 4
    assert backends.expiries == [3600]


def test_an_expiry_rule_refused_for_good_does_not_stop_the_api():
    backends = LateBackends(failures=0, expiry_error=core.ThumbnailsError("AccessDenied"))
    assert startup.set_up_or_retry(backends, 3600) is None
    assert backends.ensure_calls == 1


def test_an_expiry_rule_unreachable_is_tried_again():
    backends = LateBackends(failures=0, expiry_error=core.TransientError("SlowDown"))
    thread = startup.set_up_or_retry(backends, 3600, first_retry_seconds=0.01)
    assert thread is not None
    backends.expiry_error = None
    thread.join(timeout=60)
    assert not thread.is_alive() and backends.expiries == [3600]
