"""Which jobs each owner has waiting (accepted, not yet started): one empty marker object per
job under `waiting/<owner digest>/<job id>`, so a cap per owner needs no shared counter that
concurrent submissions would fight over.

The api counts an owner's markers (one LIST) before accepting a job and writes one for it;
the thumbnailer removes it when it takes the job up (or finds it finished), the api when the
job is cancelled or could not be queued. Concurrent submissions may pass the cap by as many
as are in flight at once. A marker older than STALE_AFTER_SECONDS is no longer counted (and
is removed when seen), so a lost removal cannot lock an owner out for good.
"""

from __future__ import annotations

import hashlib
import time

from core.job import parse_job_id
from storage.objects.base import ObjectStore

PREFIX = "waiting/"
STALE_AFTER_SECONDS = 3600
MARKER_CONTENT_TYPE = "application/octet-stream"


def _folder(owner: str) -> str:
    """Owners may contain characters a key segment may not start with: use a digest."""
    return f"{PREFIX}{hashlib.sha256(owner.encode()).hexdigest()[:32]}/"


class WaitingJobs:
    def __init__(self, objects: ObjectStore, clock=time.time):
        self.objects = objects
        self.clock = clock

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
