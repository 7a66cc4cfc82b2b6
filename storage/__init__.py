"""Persistence shared by the api and the thumbnailer: object stores, queues and the job store."""

from __future__ import annotations

import dataclasses
import functools

from core import priorities
from core.errors import PermissionDenied, TransientError
from core.settings import Settings
from storage.jobstore import DocumentJobStore, JobStore
from storage.objects.base import ObjectStore
from storage.queues.base import Message, Queue
from storage.waiting import WaitingJobs

__all__ = ["Backends", "DocumentJobStore", "JobStore", "Message", "ObjectStore", "Queue", "connect"]


@dataclasses.dataclass(frozen=True)
class Backends:
    """The clients a process needs, built once at start-up and shared."""

    objects: ObjectStore
    queue: Queue  # the normal-priority queue: what callers that know no priority use
    high: Queue | None = None
    low: Queue | None = None
    job_store: JobStore | None = None  # None: job documents in the object store

    @functools.cached_property
    def jobs(self) -> JobStore:
        return self.job_store if self.job_store is not None else DocumentJobStore(self.objects)

    @functools.cached_property
    def waiting(self) -> WaitingJobs:
        return WaitingJobs(self.objects, self.queues)

    def queue_for(self, priority: str) -> Queue:
        """Where a job of this priority is sent (normal when no priority queues are configured)."""
        chosen = {priorities.HIGH: self.high, priorities.LOW: self.low}.get(priority)
        return chosen if chosen is not None else self.queue

    @functools.cached_property
    def inbox(self) -> Queue:
        """What a thumbnailer receives from: all priorities by their schedule, or the one queue."""
        if self.high is None or self.low is None:
            return self.queue
        from storage.queues.priority import PriorityQueues

        return PriorityQueues({priorities.HIGH: self.high, priorities.NORMAL: self.queue, priorities.LOW: self.low})

    @property
    def queues(self) -> list[Queue]:
        return [queue for queue in (self.high, self.queue, self.low) if queue is not None]

    def ensure(self) -> None:
        """Create what is missing. Both are tried even when one is unreachable, so that a process
        started during a storage outage still creates its queue; the first failure is raised,
        a refused permission before an outage (the one a caller must not wait out)."""
        failures = []
        backends: list[ObjectStore | JobStore | Queue] = [self.objects, self.jobs, *self.queues]
        for backend in backends:
            try:
                backend.ensure()
            except TransientError as error:
                failures.append(error)
        if failures:
            raise next((error for error in failures if isinstance(error, PermissionDenied)), failures[0])


def connect(settings: Settings) -> Backends:
    """Build the object store, job store and queues that the settings' URLs name."""
    objects = _object_store(settings)
    return Backends(objects, _queue(settings, settings.queue_url),
                    _queue(settings, settings.priority_queue_url(priorities.HIGH)),
                    _queue(settings, settings.priority_queue_url(priorities.LOW)),
                    _job_store(settings, objects))


def _job_store(settings: Settings, objects: ObjectStore) -> JobStore:
    if settings.jobs_backend == "objects":
        return DocumentJobStore(objects)
    from storage.sqljobs import SqlJobStore

    return SqlJobStore(objects, settings.jobs_url)


def _object_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "file":
        from storage.objects.local import LocalObjectStore

        return LocalObjectStore(settings.storage_path)
    from storage.aws import make_client
    from storage.objects.s3 import S3ObjectStore

    return S3ObjectStore(make_client("s3", settings.s3_addressing_style), settings.bucket)


def _queue(settings: Settings, url: str) -> Queue:
    settings = dataclasses.replace(settings, queue_url=url, queue_url_high="", queue_url_low="")
    if settings.queue_backend == "sqlite":
        from storage.queues.sqlite import SqliteQueue

        return SqliteQueue(settings.queue_path, settings.visibility_timeout_seconds)
    if settings.queue_backend == "postgresql":
        from storage.queues.postgres import PostgresQueue

        return PostgresQueue(*settings.postgres_queue, settings.visibility_timeout_seconds)
    from storage.aws import make_client
    from storage.queues.sqs import SqsQueue

    return SqsQueue(make_client("sqs"), settings.queue_name, settings.visibility_timeout_seconds)
