"""Acknowledging finished messages: one DeleteMessageBatch call for up to ten of them."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import core
import storage
from storage.queues.base import MAX_ENTRIES_PER_BATCH

log = logging.getLogger(__name__)
# A finished message waits at most this long for others to share its delete call; far
# below any visibility timeout, so batching never lets a finished job be delivered again.
MAX_ACK_DELAY_SECONDS = 1.0


class Acknowledger:
    """Deletes at once by default; inside batching(), collects receipts and deletes them
    ten at a time, when the oldest has waited MAX_ACK_DELAY_SECONDS, or on flush()."""

    def __init__(self, queue: storage.Queue):
        self.queue = queue
        self._lock = threading.Lock()
        self._receipts: list[str] = []
        self._oldest = 0.0
        self._batching = False

    def ack(self, receipt: str) -> None:
        if not self._batching:
            self.queue.delete([receipt])
            return
        with self._lock:
            if not self._receipts:
                self._oldest = time.monotonic()
            self._receipts.append(receipt)
            full = len(self._receipts) >= MAX_ENTRIES_PER_BATCH
        if full:
            self.flush()

    def flush_if_due(self) -> None:
        with self._lock:
            due = bool(self._receipts) and time.monotonic() - self._oldest >= MAX_ACK_DELAY_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Delete what is pending. A failure is logged: the messages come back and, their
        jobs being finished, are dropped as duplicates."""
        with self._lock:
            receipts, self._receipts = self._receipts, []
        if not receipts:
            return
        try:
            self.queue.delete(receipts)
        except core.ThumbnailsError as error:
            log.warning("could not delete %d finished messages (they will be dropped when they return): %s",
                        len(receipts), error)

    @contextlib.contextmanager
    def batching(self):
        self._batching = True
        try:
            yield self
        finally:
            self._batching = False
            self.flush()
