"""The bucket, queues and expiry rule the api sets up at start-up, tried again until they are.

An api often starts before its queue server or object store answers (compose starting
everything at once, a Kubernetes pod scheduled before the network is up). It starts anyway
and answers 503 until its dependencies do; meanwhile a background thread keeps trying to
create what is missing, so the api never depends on a thumbnailer to create its queues.
"""

from __future__ import annotations

import logging
import threading
import time

import core
import storage
from core.backoff import backoff
from storage.access import check_access

log = logging.getLogger(__name__)
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def set_up(backends: storage.Backends, retention_seconds: int) -> None:
    """Create the bucket and queues if missing, merge the bucket's expiry rule, and try each
    permission the api needs once (a missing one raises PermissionDenied naming the action)."""
    backends.ensure()
    try:
        backends.jobs.expire_after(retention_seconds)
    except core.TransientError:
        raise
    except core.ThumbnailsError as error:
        log.warning("could not set the bucket's expiry rule (expired data is still refused): %s", error)
    check_access(backends)


def set_up_or_retry(backends: storage.Backends, retention_seconds: int,
                    first_retry_seconds: float = FIRST_RETRY_SECONDS) -> threading.Thread | None:
    """Set up now; if storage or the queue does not answer, keep trying in a daemon thread
    (returned, for tests) with the one jittered back-off, up to MAX_RETRY_SECONDS."""
    try:
        set_up(backends, retention_seconds)
        return None
    except core.PermissionDenied:
        raise  # a policy that lacks an action never goes live: the error names the action
    except core.TransientError as error:
        # Start anyway: /readyz reports the dependency, requests answer 503 until it is back.
        log.warning("storage not reachable at start-up, trying again in the background: %s", error)
    except core.ThumbnailsError as error:
        # Refused for good (a permission, say): retrying would not help; /readyz shows the rest.
        log.warning("could not create the bucket or queues: %s", error)
        return None
    thread = threading.Thread(target=_retry, args=(backends, retention_seconds, first_retry_seconds),
                              name="set-up", daemon=True)
    thread.start()
    return thread


def _retry(backends: storage.Backends, retention_seconds: int, base_seconds: float) -> None:
    attempt = 0
    while True:
        attempt += 1
        time.sleep(backoff(attempt, base_seconds, MAX_RETRY_SECONDS))
        try:
            set_up(backends, retention_seconds)
        except core.PermissionDenied as error:
            log.error("the api cannot work with these credentials: %s", error)
            return
        except core.TransientError as error:
            log.info("still not reachable, trying again: %s", error)
            continue
        except core.ThumbnailsError as error:
            log.warning("could not create the bucket or queues: %s", error)
            return
        log.info("bucket and queues are set up")
        return
