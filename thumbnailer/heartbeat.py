"""Keep a received message hidden while its job runs.

A message comes back to the queue when its visibility timeout ends. A render slower than that
timeout would otherwise be handed to a second thumbnailer while the first is still working.
"""

from __future__ import annotations

import logging
import threading

import core
import storage

log = logging.getLogger(__name__)
# Beat this many times per timeout: one lost or slow call still leaves time for the next.
BEATS_PER_TIMEOUT = 3
JOIN_TIMEOUT_SECONDS = 1


class Heartbeat:
    """Context manager: while the block runs, a daemon thread extends the message's visibility
    to `timeout_seconds` every third of it. A failed extension is logged, never raised: the
    worst outcome is a duplicate delivery, which the thumbnailer tolerates."""

    def __init__(self, queue: storage.Queue, receipt: str, timeout_seconds: int):
        self.queue = queue
        self.receipt = receipt
        self.timeout_seconds = timeout_seconds
        self.interval_seconds = timeout_seconds / BEATS_PER_TIMEOUT
        self.beats = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        # Do not wait out a call stuck on an unreachable queue; the thread is a daemon.
        self._thread.join(timeout=JOIN_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while not self._done.wait(self.interval_seconds):
            try:
                self.queue.change_visibility(self.receipt, self.timeout_seconds)
                self.beats += 1
            except core.ThumbnailsError as error:
                log.warning("could not extend a message's visibility (it may be delivered again): %s", error)
