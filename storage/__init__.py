"""Shared by the api and the thumbnailer: the job model, the object store, the queue."""

from __future__ import annotations

import dataclasses
import functools

from storage.errors import (ConfigurationError, Conflict, InvalidJob, InvalidKey, NotFound, ThumbnailsError,
                            TransientError)
from storage.job import Job, JobStatus
from storage.jobstore import JobStore
from storage.objects.base import ObjectStore
from storage.queues.base import Message, Queue
from storage.settings import Settings

__all__ = [
    "Backends", "ConfigurationError", "Conflict", "InvalidJob", "InvalidKey", "Job", "JobStatus", "JobStore",
    "Message", "NotFound", "ObjectStore", "Queue", "Settings", "ThumbnailsError", "TransientError", "connect",
]


@dataclasses.dataclass(frozen=True)
class Backends:
    """The clients a process needs, built once at start-up and shared."""

    objects: ObjectStore
    queue: Queue

    @functools.cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.objects)

    def ensure(self) -> None:
        """Create what is missing. Both are tried even when one is unreachable, so that a process
        started during a storage outage still creates its queue; the first failure is raised."""
        failures = []
        for backend in (self.objects, self.queue):
            try:
                backend.ensure()
            except TransientError as error:
                failures.append(error)
        if failures:
            raise failures[0]


def connect(settings: Settings) -> Backends:
    """Build the object store and queue that the settings' URLs name."""
    return Backends(_object_store(settings), _queue(settings))


def _object_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "file":
        from storage.objects.local import LocalObjectStore

        return LocalObjectStore(settings.storage_path)
    from storage.aws import make_client
    from storage.objects.s3 import S3ObjectStore

    return S3ObjectStore(make_client("s3", settings.s3_addressing_style), settings.bucket)


def _queue(settings: Settings) -> Queue:
    if settings.queue_backend == "sqlite":
        from storage.queues.sqlite import SqliteQueue

        return SqliteQueue(settings.queue_path, settings.visibility_timeout_seconds)
    from storage.aws import make_client
    from storage.queues.sqs import SqsQueue

    return SqsQueue(make_client("sqs"), settings.queue_name, settings.visibility_timeout_seconds)
