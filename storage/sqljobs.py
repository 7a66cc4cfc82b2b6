"""Job records in SQLite or PostgreSQL (SQLAlchemy Core): the job store with history.

A record's `version` column is a hash of its document, as S3's ETag is of an object; a write of a
loaded job says which version it read and changes nothing if the row moved on since (Conflict).
A hash rather than a write counter keeps the documents' semantics exactly: two thumbnailers that
both write the same `processing` document do not make each other's next write a conflict.
"""

from __future__ import annotations

import functools
import hashlib
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import Conflict, InvalidJob, NotFound
from core.job import Job, JobStatus, parse_job_id
from storage import database
from storage.jobstore import (
    JobPage,
    JobQuery,
    JobStore,
    JobSummary,
    decode_cursor,
    encode_cursor,
    retention_days,
)
from storage.objects.base import ObjectStore
from storage.schema import jobs

MS_PER_DAY = 86_400_000


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _row(job: Job) -> dict:
    document = job.to_json()
    return {
        "id": job.id, "owner": job.owner, "status": job.status.value, "priority": job.priority,
        "start_ms": to_ms(job.start), "finish_ms": None if job.finish is None else to_ms(job.finish),
        "updated_ms": round(time.time() * 1000), "document": document, "version": _version(document),
    }


_ROW_COLUMNS = ("id", "owner", "status", "priority", "start_ms", "finish_ms", "updated_ms", "document", "version")
# A write of a job that was read: only if the row is still at the version read.
_CONDITIONAL_UPDATE = (sa.update(jobs).where(jobs.c.id == sa.bindparam("read_id"),
                                             jobs.c.version == sa.bindparam("read_version"))
                       .values({name: sa.bindparam(name) for name in _ROW_COLUMNS}).returning(jobs.c.seq))
_LOAD = sa.select(jobs.c.document, jobs.c.version).where(jobs.c.id == sa.bindparam("read_id"))


def _job(document: str, version: str) -> Job:
    job = Job.from_json(document)
    job.version = version
    return job


def _version(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()[:32]


class SqlJobStore(JobStore):
    history = True

    def __init__(self, objects: ObjectStore, url: str):
        super().__init__(objects)
        self.url = url

    @property
    def _db(self) -> sa.Engine:
        return database.engine(self.url)

    def ensure(self) -> None:
        database.migrate(self.url)

    def ping(self) -> None:
        with database.translated_errors("job records"), self._db.connect() as connection:
            connection.execute(sa.select(1))

    # -- records ---------------------------------------------------------------

    def save(self, job: Job) -> None:
        row = _row(job)
        version = row["version"]
        with database.translated_errors(f"writing job {job.id}"), self._db.begin() as connection:
            if job.version is None:
                connection.execute(self._upsert, row)
            else:
                written = connection.execute(
                    _CONDITIONAL_UPDATE, {**row, "read_id": job.id, "read_version": job.version}).first()
                if written is None:
                    exists = connection.execute(sa.select(jobs.c.seq).where(jobs.c.id == job.id)).first()
                    if exists is None:
                        raise NotFound(f"writing job {job.id}: the record was deleted")
                    raise Conflict(f"writing job {job.id}: changed by another writer")
        job.version = version

    @functools.cached_property
    def _upsert(self):
        """Insert, or overwrite whatever is there (an unconditional write, like a plain PUT).
        Built once: building the statement cost more CPU than running it."""
        dialect = postgresql if self._db.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(jobs)
        return insert.on_conflict_do_update(
            index_elements=[jobs.c.id], set_={name: insert.excluded[name] for name in _ROW_COLUMNS if name != "id"})

    def load(self, job_id: str) -> Job:
        try:
            job_id = parse_job_id(job_id)
        except InvalidJob as error:
            raise NotFound(str(error)) from error
        with database.translated_errors(f"reading job {job_id}"), self._db.connect() as connection:
            row = connection.execute(_LOAD, {"read_id": job_id}).first()
        if row is None:
            raise NotFound(f"job {job_id}: not found")
        return _job(row.document, row.version)

    def delete_record(self, job_id: str) -> None:
        with database.translated_errors(f"deleting job {job_id}"), self._db.begin() as connection:
            connection.execute(sa.delete(jobs).where(jobs.c.id == parse_job_id(job_id)))

    def import_jobs(self, imported: list[Job]) -> int:
        """Insert jobs whose id has no row yet (rows already there win); return how many were new.
        Rows get their place in the history in the order given: pass them oldest first."""
        if not imported:
            return 0
        dialect = postgresql if self._db.dialect.name == "postgresql" else sqlite
        rows = [_row(job) for job in imported]
        with database.translated_errors("importing jobs"), self._db.begin() as connection:
            inserted = connection.execute(
                dialect.insert(jobs).on_conflict_do_nothing(index_elements=[jobs.c.id]).returning(jobs.c.id),
                rows)
            return len(inserted.all())

    # -- history ---------------------------------------------------------------

    def page(self, query: JobQuery) -> JobPage:
        if len(query.statuses) > 1:
            # One index range per status, merged: a rare status is found without walking past
            # the common ones (an IN list would scan the owner's jobs in order and filter).
            parts = [self._page(query, (status,)).subquery() for status in query.statuses]
            merged = sa.union_all(*[sa.select(*part.c) for part in parts]).subquery()
            statement = sa.select(*merged.c).order_by(merged.c.start_ms.desc(), merged.c.seq.desc()) \
                .limit(query.limit + 1)
        else:
            statement = self._page(query, query.statuses)
        with database.translated_errors("listing jobs"), self._db.connect() as connection:
            rows = connection.execute(statement).all()
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        return JobPage([_job(row.document, row.version) for row in rows],
                       encode_cursor(rows[-1].start_ms, rows[-1].seq) if more else None)

    def _page(self, query: JobQuery, statuses: tuple[JobStatus, ...]):
        """One page (and one more row, to know whether there is a next) newest first."""
        statement = sa.select(jobs.c.seq, jobs.c.start_ms, jobs.c.document, jobs.c.version)
        if query.owner is not None:
            statement = statement.where(jobs.c.owner == query.owner)
        if statuses:
            statement = statement.where(jobs.c.status.in_([status.value for status in statuses]))
        if query.priority is not None:
            statement = statement.where(jobs.c.priority == query.priority)
        if query.since is not None:
            statement = statement.where(jobs.c.start_ms >= to_ms(query.since))
        if query.until is not None:
            statement = statement.where(jobs.c.start_ms < to_ms(query.until))
        if query.cursor is not None:
            statement = statement.where(sa.tuple_(jobs.c.start_ms, jobs.c.seq) < decode_cursor(query.cursor, 2))
        return statement.order_by(jobs.c.start_ms.desc(), jobs.c.seq.desc()).limit(query.limit + 1)

    def summary(self, owner: str | None, statuses: tuple[JobStatus, ...] = ()) -> JobSummary:
        counting = sa.select(jobs.c.status, jobs.c.priority, sa.func.count()).group_by(jobs.c.status, jobs.c.priority)
        oldest = sa.select(sa.func.min(jobs.c.start_ms)).where(jobs.c.status == JobStatus.PENDING.value)
        if owner is not None:
            counting = counting.where(jobs.c.owner == owner)
            oldest = oldest.where(jobs.c.owner == owner)
        if statuses:
            counting = counting.where(jobs.c.status.in_([status.value for status in statuses]))
        counts: dict[str, dict[str, int]] = {}
        with database.translated_errors("counting jobs"), self._db.connect() as connection:
            for status, priority, count in connection.execute(counting):
                counts.setdefault(status, {})[priority] = count
            oldest_ms = connection.execute(oldest).scalar()
        return JobSummary(counts, None if oldest_ms is None else from_ms(oldest_ms))

    def stale(self, statuses: tuple[JobStatus, ...], changed_before: datetime, limit: int = 100) -> list[Job]:
        statement = (sa.select(jobs.c.document, jobs.c.version)
                     .where(jobs.c.status.in_([status.value for status in statuses]),
                            jobs.c.updated_ms < to_ms(changed_before))
                     .order_by(jobs.c.updated_ms).limit(limit))
        with database.translated_errors("finding stale jobs"), self._db.connect() as connection:
            return [_job(row.document, row.version) for row in connection.execute(statement)]

    # -- retention -------------------------------------------------------------

    @property
    def expires_by_itself(self) -> bool:
        return False  # records are swept, whatever the object store does on its own

    def expire_after(self, retention_seconds: int) -> None:
        """Data as the object store does it; records of jobs finished before then are deleted."""
        super().expire_after(retention_seconds)
        cutoff = round(time.time() * 1000) - retention_days(retention_seconds) * MS_PER_DAY
        with database.translated_errors("deleting expired job records"), self._db.begin() as connection:
            connection.execute(sa.delete(jobs).where(jobs.c.finish_ms < cutoff))
