"""Which jobs each owner has waiting (accepted, not yet started): one empty marker object per
job under `waiting/<owner digest>/<job id>`, so a cap per owner needs no shared counter that
concurrent submissions would fight over.

Markers are kept only while there is a backlog: no owner can have more jobs waiting than the
queues hold, so while they hold fewer than half the cap (`needs_markers`) a job is accepted
with no marker at all, and a submission costs no LIST, PUT or DELETE. Past that, the api counts
an owner's markers (one LIST) against the other half of the cap and writes one for the job; the
thumbnailer removes it when it takes the job up (or finds it finished), the api when the job is
cancelled or could not be queued. So an owner has at most about the cap waiting: jobs accepted
unmarked (fewer than half of it, as the queues held fewer) plus marked ones (the other half).

The queue depth is read at most every DEPTH_READ_SECONDS per process, plus the jobs this
process accepted since: submissions to other api processes meanwhile, and submissions in
flight at the same moment, may pass the cap by as many. A marker older than
STALE_AFTER_SECONDS is no longer counted (and is removed when seen), so a lost removal cannot
lock an owner out for good.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

from core.errors import ThumbnailsError
from core.job import parse_job_id
from storage.objects.base import ObjectStore
from storage.queues.base import Queue

PREFIX = "waiting/"
STALE_AFTER_SECONDS = 3600
MARKER_CONTENT_TYPE = "application/octet-stream"
# How long a read of the queues' depth stands in for the next ones (one request per queue).
DEPTH_READ_SECONDS = 5


def _folder(owner: str) -> str:
    """Owners may contain characters a key segment may not start with: use a digest."""
    return f"{PREFIX}{hashlib.sha256(owner.encode()).hexdigest()[:32]}/"


class WaitingJobs:
    def __init__(self, objects: ObjectStore, queues: Sequence[Queue] = (), clock=time.time,
                 monotonic=time.monotonic):
        self.objects = objects
        self.queues = tuple(queues)
        self.clock = clock
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._depth_read_at: float | None = None
        self._depth: int | None = 0  # messages in the queues at the last read, plus the jobs accepted since

    def needs_markers(self, cap: int) -> bool:
        """Whether the queues may hold half the cap or more: below that nobody can be near it.
        With no queues to ask, always."""
        if not self.queues:
            return True
        now = self.monotonic()
        with self._lock:
            stale = self._depth_read_at is None or now - self._depth_read_at >= DEPTH_READ_SECONDS
        if stale:
            try:
                depth: int | None = sum(sum(queue.approximate_depth()) for queue in self.queues)
            except ThumbnailsError:  # not known (a queue away or gone): count markers, as always before
                depth = None
            with self._lock:
                self._depth, self._depth_read_at = depth, now
        with self._lock:
            return self._depth is None or self._depth >= self.unmarked_share(cap)

    @staticmethod
    def unmarked_share(cap: int) -> int:
        """The part of the cap taken by jobs accepted while the queues were short: half."""
        return cap // 2

    def accepted(self) -> None:
        """A job was queued: the depth last read is short by one more."""
        with self._lock:
            if self._depth is not None:
                self._depth += 1

    def count(self, owner: str, limit: int) -> int:
        """How many jobs the owner has waiting, counting at most `limit` + 1."""
        fresh = 0
        now = self.clock()
        for key, written in self.objects.list_keys(_folder(owner), limit + 1):
            if now - written < STALE_AFTER_SECONDS:
                fresh += 1
            else:
                self.objects.delete(key)
        return fresh

    def add(self, owner: str, job_id: str) -> None:
        self.objects.put(_folder(owner) + parse_job_id(job_id), b"", MARKER_CONTENT_TYPE)

    def remove(self, owner: str, job_id: str) -> None:
        self.objects.delete(_folder(owner) + parse_job_id(job_id))
