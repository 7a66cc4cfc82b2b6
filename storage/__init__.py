"""Shared by the api and the thumbnailer: the job model, the object store, the queue."""

from __future__ import annotations

import dataclasses

from storage.errors import ConfigurationError, Conflict, InvalidJob, NotFound, ThumbnailsError, TransientError
from storage.job import Job, JobStatus
from storage.jobstore import JobStore
from storage.objects.base import ObjectStore
from storage.queues.base import Message, Queue
from storage.settings import Settings

__all__ = [
    "Backends", "ConfigurationError", "Conflict", "InvalidJob", "Job", "JobStatus", "JobStore", "Message", "NotFound",
    "ObjectStore", "Queue", "Settings", "ThumbnailsError", "TransientError", "connect",
]


@dataclasses.dataclass(frozen=True)
class Backends:
    """The clients a process needs, built once at start-up and shared."""

    objects: ObjectStore
    queue: Queue

    @property
    def jobs(self) -> JobStore:
        return JobStore(self.objects)

    def ensure(self) -> None:
        self.objects.ensure()
        self.queue.ensure()


def connect(settings: Settings) -> Backends:
    from storage.aws import make_client
    from storage.objects.s3 import S3ObjectStore
    from storage.queues.sqs import SqsQueue

    objects = S3ObjectStore(make_client("s3", settings.s3_addressing_style), settings.bucket)
    queue = SqsQueue(make_client("sqs"), settings.queue_name, settings.visibility_timeout_seconds)
    return Backends(objects, queue)
