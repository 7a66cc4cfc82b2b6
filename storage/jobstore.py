"""Where a job's record, input and outputs live.

Inputs and outputs are always objects in the object store. The job record, the one source of
truth about a job, lives either beside them as a JSON document (DocumentJobStore: the design's
original layout, no history queries) or in a database (storage.sqljobs.SqlJobStore: SQLite or
PostgreSQL, with history). Both refuse a write that would undo someone else's change (Conflict).
"""

from __future__ import annotations

import abc
import base64
import dataclasses
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

from core.errors import Conflict, HistoryUnavailable, InvalidJob, InvalidOption, NotFound
from core.job import Job, JobStatus, parse_job_id
from core.outputs import HARD_MAX_OUTPUTS
from storage.objects.base import ObjectStore, StoredObject

log = logging.getLogger(__name__)
JOB_CONTENT_TYPE = "application/json"
PREFIX = "jobs/"
DOCUMENT_SUFFIX = "/job.json"
SECONDS_PER_DAY = 86400
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)
# The most unfinished jobs one reconciler sweep takes from a database; the next sweep takes more.
RECONCILE_BATCH = 1000
# A job read, changed and written this many times over, losing each time to another writer, is
# left to the caller: something is rewriting it in a loop.
MAX_UPDATE_ATTEMPTS = 5


def job_key(job_id: str) -> str:
    return f"{PREFIX}{parse_job_id(job_id)}/job.json"


def input_key(job_id: str) -> str:
    return f"{PREFIX}{parse_job_id(job_id)}/input"


def thumbnail_key(job_id: str) -> str:
    return f"{PREFIX}{parse_job_id(job_id)}/thumbnail"


def output_key(job_id: str, index: int) -> str:
    """Output 0 is the historic thumbnail; the others sit beside it."""
    return thumbnail_key(job_id) if index == 0 else f"{PREFIX}{parse_job_id(job_id)}/output-{index}"


def retention_days(retention_seconds: int) -> int:
    """Whole days after which the store itself drops a job: a day after the api stops serving it."""
    return -(-retention_seconds // SECONDS_PER_DAY) + 1


@dataclasses.dataclass(frozen=True)
class JobQuery:
    """Which jobs to list, newest first. owner None means every owner (operators only)."""

    owner: str | None
    statuses: tuple[JobStatus, ...] = ()
    priority: str | None = None
    since: datetime | None = None  # submitted at or after
    until: datetime | None = None  # submitted before
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None  # the `next` of the previous page

    def __post_init__(self):
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidOption("limit", f"must be between 1 and {MAX_PAGE_SIZE}, not {self.limit}")


@dataclasses.dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next: str | None  # pass as cursor for the following page; None on the last one


@dataclasses.dataclass(frozen=True)
class JobSummary:
    """Counts by status, then priority, and when the oldest pending job was submitted."""

    counts: dict[str, dict[str, int]]
    oldest_pending: datetime | None


def encode_cursor(*position: int) -> str:
    """Opaque to clients: they hand it back unchanged."""
    return base64.urlsafe_b64encode(":".join(["v1", *map(str, position)]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> tuple[int, ...]:
    try:
        version, *position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")
        if version != "v1" or len(position) != size:
            raise ValueError(version)
        return tuple(int(part) for part in position)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidOption("cursor", "not a cursor this service handed out") from error


class JobStore(abc.ABC):
    """Records (abstract here) plus the job's data in the object store (shared by every kind)."""

    history = False  # True where list(), summary() and stale() answer

    def __init__(self, objects: ObjectStore):
        self.objects = objects

    # -- records ---------------------------------------------------------------

    @abc.abstractmethod
    def save(self, job: Job) -> None:
        """Write the record; a job that was loaded is written only if nobody changed it since.

        Two thumbnailers may hold the same job (at-least-once delivery). The conditional write
        makes the slower one get Conflict instead of, say, putting `processing` back over
        `complete`; it then reads the job again and decides afresh. A job never loaded (its
        version is None) is written whatever is there.
        """

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

    @abc.abstractmethod
    def load(self, job_id: str) -> Job:
        """Raise NotFound for an unknown or malformed id, InvalidJob for a corrupt record."""

    @abc.abstractmethod
    def delete_record(self, job_id: str) -> None:
        """Deleting a missing record is not an error."""

    def ensure(self) -> None:
        """Create what is missing (a database's tables); nothing to do for documents."""
        return

    def ping(self) -> None:
        self.objects.ping()

    def page(self, query: JobQuery) -> JobPage:
        """Jobs newest first, one page at a time; pages stay put while new jobs arrive."""
        raise HistoryUnavailable(self._no_history)

    def summary(self, owner: str | None, statuses: tuple[JobStatus, ...] = ()) -> JobSummary:
        """Counts of an owner's jobs (every owner's when None), restricted to `statuses` if given."""
        raise HistoryUnavailable(self._no_history)

    def stale(self, statuses: tuple[JobStatus, ...], changed_before: datetime, limit: int = 100) -> list[Job]:
        """Jobs in one of `statuses` whose record last changed before `changed_before`, oldest
        first: e.g. pending jobs whose queue message may be lost (a reconciler's sweep)."""
        raise HistoryUnavailable(self._no_history)

    _no_history = ("job history needs a database: set JOBS_URL to sqlite:///path/jobs.db or "
                   "postgresql://..., or run the embedded default")

    def unfinished_before(self, cutoff: datetime) -> Iterator[Job]:
        """Jobs not finished (pending or processing) whose record was last written before cutoff,
        each with the version it was read at, so that a rescue is a conditional write. A
        database answers with one indexed query (stale())."""
        yield from self.stale(ACTIVE_STATUSES, cutoff, limit=RECONCILE_BATCH)

    # -- data ------------------------------------------------------------------

    def save_input(self, job_id: str, data: bytes | BinaryIO, content_type: str, crc32: int | None = None) -> None:
        self.objects.put(input_key(job_id), data, content_type, crc32=crc32)

    def load_input(self, job_id: str) -> StoredObject:
        return self.objects.get_data(input_key(job_id))

    def save_output(self, job_id: str, index: int, data: bytes, content_type: str) -> None:
        self.objects.put(output_key(job_id, index), data, content_type)

    def load_output(self, job_id: str, index: int) -> StoredObject:
        return self.objects.get_data(output_key(job_id, index))

    def presigned_output(self, job_id: str, index: int, expires_in_seconds: int, cache_control: str) -> str:
        """A URL that reads the output straight from the object store (S3 only)."""
        return self.objects.presigned_get(output_key(job_id, index), expires_in_seconds, cache_control)

    def delete_data(self, job_id: str, output_count: int = HARD_MAX_OUTPUTS) -> None:
        """Remove the input and every output, keeping the record."""
        self.objects.delete(input_key(job_id))
        for index in range(output_count):
            self.objects.delete(output_key(job_id, index))

    def delete_all(self, job_id: str, output_count: int = HARD_MAX_OUTPUTS) -> None:
        self.delete_data(job_id, output_count)
        self.delete_record(job_id)

    @property
    def expires_by_itself(self) -> bool:
        """True where nothing needs sweeping: the store applies its own expiry rule."""
        return self.objects.expires_by_itself

    def expire_after(self, retention_seconds: int) -> None:
        """Let the store drop everything a day after retention ends (the api refuses it sooner)."""
        self.objects.expire_after(PREFIX, retention_days(retention_seconds))


class DocumentJobStore(JobStore):
    """The record is a JSON document beside the job's data; the ETag makes writes conditional."""

    def __init__(self, objects: ObjectStore):
        super().__init__(objects)
        # Ids of jobs seen finished: a finished job never changes status again, so the
        # reconciler's sweeps read each finished document at most once per process.
        self._seen_finished: set[str] = set()

    def save(self, job: Job) -> None:
        stored = self.objects.put(job_key(job.id), job.to_json().encode(), JOB_CONTENT_TYPE, only_if=job.version)
        job.version = stored or None

    def load(self, job_id: str) -> Job:
        try:
            key = job_key(job_id)
        except InvalidJob as error:
            raise NotFound(str(error)) from error
        stored = self.objects.get(key)
        job = Job.from_json(stored.data)
        job.version = stored.version or None
        return job

    def delete_record(self, job_id: str) -> None:
        self.objects.delete(job_key(job_id))

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
