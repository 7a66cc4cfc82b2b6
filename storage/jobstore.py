"""Where a job's document, input and thumbnail live in the object store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

from core.errors import Conflict, InvalidJob, NotFound
from core.job import Job, parse_job_id
from core.outputs import HARD_MAX_OUTPUTS
from storage.objects.base import ObjectStore, StoredObject

log = logging.getLogger(__name__)
JOB_CONTENT_TYPE = "application/json"
PREFIX = "jobs/"
DOCUMENT_SUFFIX = "/job.json"
SECONDS_PER_DAY = 86400
# A job read, changed and written this many times over, losing each time to another writer, is
# left to the caller: something is rewriting it in a loop.
MAX_UPDATE_ATTEMPTS = 5


def job_key(job_id: str) -> str:
    return f"{PREFIX}{parse_job_id(job_id)}{DOCUMENT_SUFFIX}"


def input_key(job_id: str) -> str:
    return f"{PREFIX}{parse_job_id(job_id)}/input"


def thumbnail_key(job_id: str) -> str:
    return f"{PREFIX}{parse_job_id(job_id)}/thumbnail"


def output_key(job_id: str, index: int) -> str:
    """Output 0 is the historic thumbnail; the others sit beside it."""
    return thumbnail_key(job_id) if index == 0 else f"{PREFIX}{parse_job_id(job_id)}/output-{index}"


class JobStore:
    """The job document is the one source of truth; the queue only carries ids."""

    def __init__(self, objects: ObjectStore):
        self.objects = objects
        # Ids of jobs seen finished: a finished job never changes status again, so the
        # reconciler's sweeps read each finished document at most once per process.
        self._seen_finished: set[str] = set()

    def save(self, job: Job) -> None:
        """Write the document; a job that was loaded is written only if nobody changed it since.

        Two thumbnailers may hold the same job (at-least-once delivery). The conditional write
        makes the slower one get Conflict instead of, say, putting `processing` back over
        `complete`; it then reads the job again and decides afresh.
        """
        stored = self.objects.put(job_key(job.id), job.to_json().encode(), JOB_CONTENT_TYPE, only_if=job.version)
        job.version = stored or None

    def update(self, job_id: str, change: Callable[[Job], bool], attempts: int = MAX_UPDATE_ATTEMPTS) -> Job:
        """Read the job, apply `change`, and write it only if nobody wrote in between; on a
        conflict read it again and apply `change` to what is there now. `change` returns False
        to write nothing (the job already is as it should be). Raises Conflict after `attempts`."""
        for _ in range(attempts):
            job = self.load(job_id)
            if not change(job):
                return job
            try:
                self.save(job)
                return job
            except Conflict:
                continue
        raise Conflict(f"job {job_id} kept changing under {attempts} attempts to update it")

    def load(self, job_id: str) -> Job:
        """Raise NotFound for an unknown or malformed id, InvalidJob for a corrupt document."""
        try:
            key = job_key(job_id)
        except InvalidJob as error:
            raise NotFound(str(error)) from error
        stored = self.objects.get(key)
        job = Job.from_json(stored.data)
        job.version = stored.version or None
        return job

    def unfinished_before(self, cutoff: datetime) -> Iterator[Job]:
        """Jobs not finished (pending or processing) whose document was last written before
        cutoff, each with the version it was read at, so that a rescue is a conditional write.

        On an object store this lists every key under jobs/ (one call per thousand objects) and
        reads the documents older than cutoff that were not seen finished before: the cost of a
        sweep grows with the jobs kept. A database keeps an index on (status, updated) and answers
        it with one query.
        """
        limit = cutoff.timestamp()
        for listed in self.objects.list_objects(PREFIX):
            job_id = listed.key[len(PREFIX):-len(DOCUMENT_SUFFIX)]
            if not listed.key.endswith(DOCUMENT_SUFFIX) or listed.modified >= limit or job_id in self._seen_finished:
                continue
            try:
                stored = self.objects.get(listed.key)
                job = Job.from_json(stored.data)
            except NotFound:
                continue  # deleted since it was listed
            except InvalidJob as error:
                log.warning("skipping a corrupt job document", extra={"key": listed.key, "reason": str(error)})
                continue
            if job.status.is_terminal:
                self._seen_finished.add(job.id)
            elif stored.modified is not None and stored.modified < limit:
                job.version = stored.version or None
                yield job

    def save_input(self, job_id: str, data: bytes | BinaryIO, content_type: str) -> None:
        self.objects.put(input_key(job_id), data, content_type)

    def load_input(self, job_id: str) -> StoredObject:
        return self.objects.get(input_key(job_id))

    def save_output(self, job_id: str, index: int, data: bytes, content_type: str) -> None:
        self.objects.put(output_key(job_id, index), data, content_type)

    def load_output(self, job_id: str, index: int) -> StoredObject:
        return self.objects.get(output_key(job_id, index))

    def delete_data(self, job_id: str, output_count: int = HARD_MAX_OUTPUTS) -> None:
        """Remove the input and every output, keeping the document as a record."""
        self.objects.delete(input_key(job_id))
        for index in range(output_count):
            self.objects.delete(output_key(job_id, index))

    def delete_all(self, job_id: str, output_count: int = HARD_MAX_OUTPUTS) -> None:
        self.delete_data(job_id, output_count)
        self.objects.delete(job_key(job_id))

    def expire_after(self, retention_seconds: int) -> None:
        """Let the store drop everything a day after retention ends (the api refuses it sooner)."""
        self.objects.expire_after(PREFIX, -(-retention_seconds // SECONDS_PER_DAY) + 1)
