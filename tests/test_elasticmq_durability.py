"""ElasticMQ as scripts/services.sh runs it with ELASTICMQ_PERSISTENT=1 (a server of this test's
own, tests/dedicated.py), stopped under a stream of sends: every send it acknowledged is
delivered after the restart, whether it was stopped (SIGTERM) or killed (SIGKILL). Sends it
never answered may or may not arrive (the api answers those 202 and leaves them to the
reconciler)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import boto3
import botocore.config
import pytest

from core.errors import ThumbnailsError
from storage.queues.sqs import SqsQueue
from tests.dedicated import DedicatedServers

SENDERS = 4
ACKNOWLEDGED_BEFORE_STOP = 60
QUEUE = "durability"


def sqs_queue(servers: DedicatedServers) -> SqsQueue:
    """One attempt per call and a short read timeout: an acknowledgement is one answered send."""
    config = botocore.config.Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1, "mode": "standard"})
    client = boto3.session.Session().client("sqs", endpoint_url=servers.endpoints["AWS_ENDPOINT_URL_SQS"],
                                            config=config)
    return SqsQueue(client, QUEUE, 30)


class Senders:
    """Threads sending numbered bodies until told to stop, recording which sends were answered."""

    def __init__(self, queue: SqsQueue):
        self.queue = queue
        self.acknowledged: set[str] = set()
        self.unanswered = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,)) for n in range(SENDERS)]
        self._lock = threading.Lock()

    def _send(self, sender: int) -> None:
        for number in range(1_000_000):
            if self._stop.is_set():
                return
            body = f"{sender}-{number}"
            try:
                self.queue.send(body)
            except ThumbnailsError:
                with self._lock:
                    self.unanswered += 1
                time.sleep(0.05)
                continue
            with self._lock:
                self.acknowledged.add(body)

    def __enter__(self) -> Senders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def drain(queue: SqsQueue) -> set[str]:
    received: set[str] = set()
    empty_polls = 0
    while empty_polls < 2:
        messages = queue.receive(10, 1)
        empty_polls = 0 if messages else empty_polls + 1
        received.update(message.body for message in messages)
        if messages:
            queue.delete([message.receipt for message in messages])
    return received


def kill(servers: DedicatedServers, directory) -> None:
    """SIGKILL: no shutdown of any kind (an OOM kill, `docker kill`); then services.sh's clean-up."""
    os.kill(int((directory / "elasticmq.pid").read_text()), signal.SIGKILL)
    servers.stop("elasticmq")


@pytest.mark.servers
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_every_acknowledged_send_survives_a_stop(tmp_path, how):
    servers = DedicatedServers(tmp_path)
    servers.start("elasticmq")
    try:
        queue = sqs_queue(servers)
        queue.ensure()
        with Senders(queue) as senders:
            deadline = time.monotonic() + 60
            while len(senders.acknowledged) < ACKNOWLEDGED_BEFORE_STOP and time.monotonic() < deadline:
                time.sleep(0.05)
            if how == "stop":
                servers.stop("elasticmq")  # SIGTERM while the senders keep sending
            else:
                kill(servers, tmp_path)
            stopped_with = len(senders.acknowledged)
        assert stopped_with >= ACKNOWLEDGED_BEFORE_STOP
        servers.start("elasticmq")
        queue.ensure()
        received = drain(queue)
    finally:
        servers.stop("elasticmq")
    lost = senders.acknowledged - received
    print(f"acknowledged {len(senders.acknowledged)}, unanswered {senders.unanswered}, "
          f"delivered after restart {len(received)}, lost {len(lost)}")
    assert not lost, f"{len(lost)} of {len(senders.acknowledged)} acknowledged sends lost: {sorted(lost)[:10]}"


def test_compose_runs_elasticmq_with_the_same_durable_h2_settings():
    """What the test above checks through services.sh holds for docker compose's ElasticMQ too."""
    root = Path(__file__).resolve().parent.parent
    options = ";DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0"
    assert f'elasticmq-h2{options}"' in (root / "scripts" / "services.sh").read_text()
    assert f'elasticmq-h2{options}"' in (root / "scripts" / "elasticmq" / "compose.conf").read_text()
