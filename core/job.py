"""The job document: JSON between processes, a validated class inside them."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from enum import Enum
from http import HTTPStatus

from core import priorities
from core.errors import InvalidJob, InvalidOption
from core.outputs import DEFAULT_OUTPUTS, OutputSpec


class JobStatus(str, Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.CANCELLED)


# processing -> processing is a redelivery after a worker died mid-job.
_ALLOWED_TRANSITIONS = {
    JobStatus.PENDING: {JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELLED},
    JobStatus.PROCESSING: {JobStatus.PROCESSING, JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.CANCELLED},
    JobStatus.COMPLETE: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELLED: set(),
}
ANONYMOUS = "anonymous"


def parse_job_id(value: str) -> str:
    """Return the canonical form of a job id, or raise InvalidJob."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError) as error:
        raise InvalidJob(f"not a job id: {value!r}") from error
    if parsed.version != 4 or str(parsed) != value.lower():
        raise InvalidJob(f"not a job id: {value!r}")
    return str(parsed)


def status_path(job_id: str) -> str:
    return f"/jobs/{job_id}"


def thumbnail_path(job_id: str) -> str:
    return f"/jobs/{job_id}/thumbnail"


def output_path(job_id: str, index: int) -> str:
    return f"/jobs/{job_id}/outputs/{index}"


# A stored document is trusted to this size; the api enforces the configured, smaller limit.
_STORED_MAX_SIDE = 65535
_DELIVERY_KEYS = {"at", "status", "error"}


def _now() -> datetime:
    """Now, to the millisecond: what the JSON form keeps, so round trips are exact."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time without a time zone: {value!r}")
    return moment


def _format_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


@dataclasses.dataclass
class Job:
    """One thumbnail request. `location` is a path relative to the api's root."""

    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    owner: str = ANONYMOUS
    status: JobStatus = JobStatus.PENDING
    start: datetime = dataclasses.field(default_factory=_now)
    finish: datetime | None = None
    location: str = ""
    code: int = HTTPStatus.ACCEPTED
    message: str = "waiting for a thumbnailer"
    outputs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS
    priority: str = priorities.DEFAULT
    callback_url: str | None = None
    # One record per webhook attempt: {"at": time, "status": HTTP status or null, "error": text or null}.
    deliveries: list[dict] = dataclasses.field(default_factory=list)
    # Times the reconciler sent the job again because it sat unfinished with no live message
    # (absent from documents written before it existed: 0).
    rescues: int = 0
    # How long the outputs' signed URLs work after the job completes, as asked at submit (None:
    # the server's SIGNED_URL_TTL_SECONDS); retention caps it either way.
    url_ttl_seconds: int | None = None
    # Where the image comes from when it was not uploaded (README, "Images by URL or object
    # key"): an http(s) URL the thumbnailer fetches, or "s3://bucket/key". At most one is set.
    source_url: str | None = None
    source: str | None = None
    # The stored version this copy was read or written at (not part of the document): lets
    # JobStore.save refuse to overwrite a change made by someone else in between.
    version: str | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        self.id = parse_job_id(self.id)
        try:
            self.status = JobStatus(self.status)
        except ValueError as error:
            raise InvalidJob(f"unknown job status: {self.status!r}") from error
        if not isinstance(self.code, int) or isinstance(self.code, bool) or not 100 <= self.code <= 599:
            raise InvalidJob(f"code must be an HTTP status code, not {self.code!r}")
        if not all(isinstance(value, str) for value in (self.message, self.location, self.owner)) or not self.owner:
            raise InvalidJob("owner, message and location must be strings")
        if not self.location:
            self.location = status_path(self.id)
        self._validate_delivery_fields()

    def _validate_delivery_fields(self) -> None:
        try:
            self.outputs = tuple(spec if isinstance(spec, OutputSpec)
                                 else OutputSpec.from_dict(spec, "outputs", _STORED_MAX_SIDE) for spec in self.outputs)
        except (InvalidOption, TypeError) as error:
            raise InvalidJob(f"malformed outputs: {error}") from error
        if not self.outputs:
            raise InvalidJob("a job has at least one output")
        if self.priority not in priorities.PRIORITIES:
            raise InvalidJob(f"unknown priority: {self.priority!r}")
        if self.callback_url is not None and not isinstance(self.callback_url, str):
            raise InvalidJob("callback_url must be a string or null")
        if not isinstance(self.deliveries, list) or not all(
                isinstance(item, dict) and set(item) == _DELIVERY_KEYS for item in self.deliveries):
            raise InvalidJob(f"deliveries must be a list of objects with {', '.join(sorted(_DELIVERY_KEYS))}")
        if not isinstance(self.rescues, int) or isinstance(self.rescues, bool) or self.rescues < 0:
            raise InvalidJob(f"rescues must be a count, not {self.rescues!r}")
        if self.url_ttl_seconds is not None and (not isinstance(self.url_ttl_seconds, int) or isinstance(
                self.url_ttl_seconds, bool) or self.url_ttl_seconds <= 0):
            raise InvalidJob(f"url_ttl_seconds must be a positive number of seconds, not {self.url_ttl_seconds!r}")
        if not all(value is None or isinstance(value, str) for value in (self.source_url, self.source)):
            raise InvalidJob("source_url and source must be strings or null")
        if self.source_url is not None and self.source is not None:
            raise InvalidJob("a job has a source_url or a source, not both")

    # -- transitions -------------------------------------------------------

    def _move_to(self, status: JobStatus, code: int, message: str) -> None:
        if status not in _ALLOWED_TRANSITIONS[self.status]:
            raise InvalidJob(f"job {self.id} cannot go from {self.status.value} to {status.value}")
        self.status, self.code, self.message = status, int(code), message
        if status.is_terminal:
            self.finish = _now()

    @property
    def has_source(self) -> bool:
        """The image is fetched by the thumbnailer (source_url or source), not an uploaded input."""
        return self.source_url is not None or self.source is not None

    def start_processing(self) -> None:
        self._move_to(JobStatus.PROCESSING, HTTPStatus.ACCEPTED, "a thumbnailer is working on it")

    def complete(self) -> None:
        self._move_to(JobStatus.COMPLETE, HTTPStatus.OK, "thumbnail ready")
        self.location = thumbnail_path(self.id)

    def fail(self, code: int, message: str) -> None:
        self._move_to(JobStatus.FAILED, code, message)

    def cancel(self) -> None:
        self._move_to(JobStatus.CANCELLED, HTTPStatus.OK, "cancelled by its owner")
        self.location = status_path(self.id)

    def record_delivery(self, status: int | None, error: str | None) -> None:
        self.deliveries.append({"at": _format_time(_now()), "status": status, "error": error})

    def is_expired(self, retention_seconds: int, now: datetime | None = None) -> bool:
        """Finished longer ago than the retention period: its data is due for removal."""
        if self.finish is None:
            return False
        return ((now or _now()) - self.finish).total_seconds() > retention_seconds

    def urls_expire(self, default_ttl_seconds: int, retention_seconds: int) -> int | None:
        """When the outputs' signed URLs stop working (Unix seconds), or None before completion.
        Fixed from the finish time, so every read of the job gives the same URLs (caches keep them)."""
        if self.status is not JobStatus.COMPLETE or self.finish is None:
            return None
        ttl = min(self.url_ttl_seconds or default_ttl_seconds, retention_seconds)
        return int(self.finish.timestamp()) + ttl

    # -- JSON ----------------------------------------------------------------

    def to_dict(self) -> dict:
        document = {
            "id": self.id,
            "owner": self.owner,
            "status": self.status.value,
            "start": _format_time(self.start),
            "finish": _format_time(self.finish),
            "location": self.location,
            "code": self.code,
            "message": self.message,
            "outputs": [spec.to_dict() for spec in self.outputs],
            "priority": self.priority,
            "callback_url": self.callback_url,
            "deliveries": list(self.deliveries),
            "rescues": self.rescues,
        }
        if self.url_ttl_seconds is not None:  # only when asked for: the previous version reads the rest
            document["url_ttl_seconds"] = self.url_ttl_seconds
        # Only when set: documents of uploaded jobs stay exactly as before, so thumbnailers of
        # an older version still read them during a rolling upgrade.
        for name in ("source_url", "source"):
            if getattr(self, name) is not None:
                document[name] = getattr(self, name)
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, document: dict) -> Job:
        if not isinstance(document, dict):
            raise InvalidJob("a job document must be a JSON object")
        fields = {field.name for field in dataclasses.fields(cls)} - {"version"}
        unknown = set(document) - fields
        if unknown:
            raise InvalidJob(f"unknown job fields: {', '.join(sorted(unknown))}")
        missing = {"id", "owner", "status", "start"} - set(document)
        if missing:
            raise InvalidJob(f"missing job fields: {', '.join(sorted(missing))}")
        try:
            values = dict(document, start=_parse_time(document["start"]), finish=_parse_time(document.get("finish")))
        except (TypeError, ValueError) as error:
            raise InvalidJob(f"malformed job time: {error}") from error
        return cls(**values)

    @classmethod
    def from_json(cls, text: str | bytes) -> Job:
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidJob(f"job document is not JSON: {error}") from error
        return cls.from_dict(document)


def job_hint(job: Job, marked_waiting: bool) -> str:
    """What the api sends beside a job's id (Queue.send_job): the document as just written, the
    version it was written at, and whether a waiting marker was written for it. A thumbnailer
    on the message's first delivery works from it instead of reading the document back; its
    final write is conditional on that version, so a job changed meanwhile (cancelled, rescued)
    is caught there and read afresh."""
    return json.dumps({"job": job.to_dict(), "version": job.version, "marked_waiting": marked_waiting})


def read_job_hint(text: str) -> tuple[Job, bool]:
    """(the job at the hint's version, whether it was marked waiting); InvalidJob if malformed."""
    try:
        hint = json.loads(text)
        job = Job.from_dict(hint["job"])
        version, marked = hint["version"], hint["marked_waiting"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidJob(f"malformed job hint: {error}") from error
    if not isinstance(version, str) or not version or not isinstance(marked, bool):
        raise InvalidJob("malformed job hint: version or marked_waiting")
    job.version = version
    return job, marked
