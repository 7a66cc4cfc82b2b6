"""/jobs: submit an image, report a job, download its thumbnail, cancel it.

Outputs are read with a key or with a signed URL (api/signing.py); either way they carry a
strong ETag and Last-Modified and answer If-None-Match with 304. Key-authenticated answers are
`private`; signed ones `public, immutable` for as long as the signature lasts, so a CDN or a
browser may keep them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from http import HTTPStatus
from urllib.parse import urljoin

from flask import Blueprint, Request, Response, g, jsonify, request
from werkzeug.exceptions import Gone, HTTPException, NotFound, UnsupportedMediaType

import core
from api import metrics, signing
from api.auth import require_owner
from api.context import backends, settings
from api.errors import RETRY_AFTER_SECONDS, error_response
from api.options import Options, options_from_json, read_json, read_options
from api.uploads import FIELD, Upload, read_upload
from core.errors import InvalidOption, OutcomeUnknown, quoted
from core.job import job_hint, output_path, status_path
from core.signing import public_cache_control

log = logging.getLogger(__name__)
blueprint = Blueprint("jobs", __name__, url_prefix="/jobs")
THUMBNAIL_MAX_AGE_SECONDS = 3600  # key-authenticated downloads, private caches only
SIGNED_ENDPOINTS = {"jobs.output", "jobs.thumbnail"}
# What a client over its cap of waiting jobs is told to wait: jobs start in seconds to minutes.
WAITING_RETRY_AFTER_SECONDS = 30
# A JSON body: one job's options (two URLs, at most MAX_OUTPUTS outputs) fit easily in 64 KiB;
# nested at most 4 deep (the body, an output list, an output, a size list).
MAX_JSON_BODY_BYTES = 64 * 1024
JSON_DEPTH = 4
# POST /jobs/batch: jobs per request, and the body ({"jobs": [...]} adds two levels).
MAX_BATCH_JOBS = 100
MAX_BATCH_BODY_BYTES = 1024 * 1024
BATCH_JSON_DEPTH = JSON_DEPTH + 2


@blueprint.before_request
def _authenticate() -> None:
    """An output asked for with a signature is let in by it alone (no key, no owner); every
    other request needs a key."""
    if request.endpoint in SIGNED_ENDPOINTS and signing.is_signed(request):
        g.owner, g.signed_until = None, signing.check(request)
    else:
        require_owner()


def _absolute(path: str) -> str:
    """A URL for the client: from PUBLIC_URL when set, never then from the request's Host."""
    return urljoin(settings().public_url or request.url_root, path.lstrip("/"))


def _job_document(job: core.Job) -> dict:
    """The job as clients see it: absolute URLs for its location and each output."""
    document = job.to_dict()
    document["location"] = _absolute(job.location)
    for index, output in enumerate(document["outputs"]):
        output["url"] = _absolute(output_path(job.id, index))
    signing.add_signed_urls(document, job, _absolute("/"))
    return document


def _job_response(job: core.Job, status: int = HTTPStatus.OK) -> Response:
    response = jsonify(_job_document(job))
    response.status_code = status
    return response


def _load_job(job_id: str) -> core.Job:
    """The caller's own job, or the one a valid signature names. Someone else's job is reported
    exactly like a missing one."""
    try:
        job = backends().jobs.load(job_id)
    except core.NotFound:
        job = None
    if job is None or (g.get("signed_until") is None and job.owner != g.owner):
        raise NotFound("no such job")  # the same words whether missing or not yours
    if job.is_expired(settings().retention_seconds):
        backends().jobs.delete_data(job.id, len(job.outputs))
        raise Gone(f"job {job.id} finished more than {settings().retention_seconds} s ago; its data was removed")
    return job


class _Refused(Exception):
    """A submission turned away: its status, message and the rest of the error answer."""

    def __init__(self, status: int, message: str, retry_after: int | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.retry_after, self.extra = status, message, retry_after, extra

    def response(self) -> Response:
        response = error_response(self.status, self.message, **self.extra)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response

    def document(self) -> dict:
        """What a batch answers in place of the job."""
        return {"status": self.status, "error": HTTPStatus(self.status).phrase, "message": self.message,
                **({"retry_after": self.retry_after} if self.retry_after is not None else {}), **self.extra}


def _refused_options(error: InvalidOption) -> _Refused:
    metrics.JOBS_REFUSED.labels(code=str(HTTPStatus.BAD_REQUEST.value)).inc()
    log.info("options refused", extra={"code": 400, "outcome": "refused", "reason": str(error)})
    return _Refused(HTTPStatus.BAD_REQUEST, str(error), field=error.field)


def _submitted_options() -> Options:
    """The options of a single submission: a JSON body, or form fields and query parameters."""
    if request.mimetype == "application/json":
        if request.args:
            raise InvalidOption(quoted(next(iter(request.args))), "with a JSON body, give every option in the body")
        options = options_from_json(read_json(request, MAX_JSON_BODY_BYTES, JSON_DEPTH), settings())
        if not options.has_source:
            raise InvalidOption("source_url", "a JSON body names its image with source_url or source")
        return options
    options = read_options(request, settings())
    if options.has_source and _has_image(request):
        raise InvalidOption("source_url" if options.source_url else "source",
                            "send an image or name a source, not both")
    return options


def _has_image(request: Request) -> bool:
    if request.mimetype == "multipart/form-data":
        return bool(request.files.getlist(FIELD))
    return (request.mimetype.startswith("image/") or request.mimetype == "application/octet-stream") \
        and (request.content_length or 0) > 0


def _check_waiting() -> bool:
    """Refuse an owner at the cap of waiting jobs; whether the new job is to be marked waiting."""
    cap = settings().max_waiting_jobs_per_owner
    waiting = backends().waiting
    # Markers only while there is a backlog (storage.waiting): then the owner's marked jobs
    # may fill the part of the cap that jobs accepted unmarked did not take.
    marked = waiting.needs_markers(cap)
    if marked and waiting.count(g.owner, cap) >= cap - waiting.unmarked_share(cap):
        metrics.JOBS_REFUSED.labels(code=str(HTTPStatus.TOO_MANY_REQUESTS.value)).inc()
        log.info("job refused: too many waiting", extra={"code": 429, "outcome": "refused"})
        raise _Refused(HTTPStatus.TOO_MANY_REQUESTS,
                       f"you have {cap} jobs waiting, the most allowed; submit more once some have started",
                       retry_after=WAITING_RETRY_AFTER_SECONDS)
    return marked


@blueprint.post("")
def submit():
    started = time.perf_counter()
    try:
        options = _submitted_options()
    except InvalidOption as error:
        return _refused_options(error).response()
    try:
        marked = _check_waiting()
        upload = None if options.has_source else _read_upload()
        job = _accept(options, upload, marked)
    except _Refused as refused:
        return refused.response()
    fields: dict[str, object]
    if upload is None:
        fields = {"source": "url" if options.source_url else "object"}
    else:
        metrics.UPLOAD_BYTES.observe(upload.size)
        fields = {"format": upload.format, "width": upload.width, "height": upload.height, "bytes": upload.size}
    log.info("job accepted", extra={"job_id": job.id, "outcome": "accepted", **fields,
                                    "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
    response = _job_response(job, HTTPStatus.ACCEPTED)
    response.headers["Location"] = _absolute(status_path(job.id))
    return response


def _read_upload() -> Upload:
    try:
        return read_upload(request, settings().max_upload_bytes, settings().max_image_pixels)
    except HTTPException as error:
        metrics.JOBS_REFUSED.labels(code=str(error.code)).inc()
        log.info("upload refused", extra={"code": error.code, "outcome": "refused", "reason": error.description})
        raise


@blueprint.post("/batch")
def submit_batch():
    """Several jobs by source_url or source in one request: each item is checked and accepted on
    its own, and the answer lists, in order, each job or the error that turned that item away."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType('send a JSON body: {"jobs": [{"source_url": "https://..."}, ...]}')
    try:
        document = read_json(request, MAX_BATCH_BODY_BYTES, BATCH_JSON_DEPTH)
        if not isinstance(document, dict) or set(document) != {"jobs"} or not isinstance(document["jobs"], list):
            raise InvalidOption("jobs", 'send an object with one key, "jobs": a list of jobs')
        if not 1 <= len(document["jobs"]) <= MAX_BATCH_JOBS:
            raise InvalidOption("jobs", f"send 1 to {MAX_BATCH_JOBS} jobs, not {len(document['jobs'])}")
    except InvalidOption as error:
        return _refused_options(error).response()
    results = []
    for index, item in enumerate(document["jobs"]):
        try:
            results.append(_batch_item(item, f"jobs[{index}]"))
        except _Refused as refused:
            results.append({"error": refused.document()})
    log.info("batch accepted", extra={"outcome": "accepted", "jobs": len(results),
                                      "refused": sum("error" in result for result in results)})
    response = jsonify(jobs=results)
    response.status_code = HTTPStatus.ACCEPTED
    return response


def _batch_item(item: object, field: str) -> dict:
    try:
        options = options_from_json(item, settings(), field)
    except InvalidOption as error:
        raise _refused_options(error) from None
    if not options.has_source:
        raise _refused_options(InvalidOption(f"{field}.source_url", "name the image with source_url or source"))
    marked = _check_waiting()
    try:
        job = _accept(options, None, marked)
    except core.TransientError as error:  # this item fails; the others are answered on their own
        log.warning("job not stored", extra={"outcome": "unavailable", "reason": str(error)})
        raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE, "storage or queue unavailable; try again shortly",
                       retry_after=RETRY_AFTER_SECONDS) from None
    log.info("job accepted", extra={"job_id": job.id, "outcome": "accepted",
                                    "source": "url" if options.source_url else "object"})
    return _job_document(job)


def _accept(options: Options, upload: Upload | None, marked: bool) -> core.Job:
    """Store the job (and its upload), then queue it; raise _Refused if the queue is away.
    `marked`: the job is counted against its owner's waiting cap by a marker (storage.waiting)."""
    job = core.Job(owner=g.owner, outputs=options.outputs, priority=options.priority,
                   callback_url=options.callback_url, url_ttl_seconds=options.url_ttl_seconds,
                   source_url=options.source_url, source=options.source)
    jobs, waiting = backends().jobs, backends().waiting
    if upload is not None:
        jobs.save_input(job.id, upload.stream, upload.content_type, upload.crc32)
    jobs.save(job)
    if marked:
        waiting.add(job.owner, job.id)
    try:
        backends().queue_for(job.priority).send_job(job.id, job_hint(job, marked))
        waiting.accepted()
    except OutcomeUnknown as error:
        # The send may have gone through: the job stays pending and is answered 202, since a job
        # whose message was lost is re-queued by the reconciler (README, "Delivery guarantees").
        log.warning("job queued, outcome unknown", extra={"job_id": job.id, "outcome": "unknown",
                                                          "reason": str(error)})
        waiting.accepted()
    except (core.TransientError, core.NotFound) as error:
        if marked:
            waiting.remove(job.owner, job.id)
        # NotFound: the queue itself is gone (an in-memory ElasticMQ that restarted): still a
        # service outage for the client, not a missing resource.
        log.warning("job not queued", extra={"job_id": job.id, "outcome": "unavailable", "reason": str(error)})
        job = _fail_unless_moved_on(job.id)
        if job.status is core.JobStatus.FAILED:
            raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE, "queue unavailable; try again shortly",
                           retry_after=RETRY_AFTER_SECONDS, job=job.id) from None
        # A thumbnailer got the message after all (the send failed only on its way back).
        log.info("job queued after all", extra={"job_id": job.id, "status": job.status.value})
    metrics.JOBS_ACCEPTED.inc()
    return job


def _fail_unless_moved_on(job_id: str) -> core.Job:
    """Mark a job whose message could not be sent `failed` 503, unless a thumbnailer already
    took it on (the send did reach the queue): then the stored state stands, whatever it is."""

    def fail_if_pending(job: core.Job) -> bool:
        if job.status is not core.JobStatus.PENDING:
            return False
        job.fail(HTTPStatus.SERVICE_UNAVAILABLE, "the queue was unavailable; submit the image again")
        return True

    try:
        return backends().jobs.update(job_id, fail_if_pending)
    except core.Conflict:  # it kept changing: a thumbnailer is at work on it; answer what is there
        return backends().jobs.load(job_id)


@blueprint.get("/<job_id>")
def status(job_id: str):
    return _job_response(_load_job(job_id))


@blueprint.get("/<job_id>/thumbnail")
def thumbnail(job_id: str):
    """The first output (for a default request, the one 100x100 thumbnail)."""
    return output(job_id, 0)


@blueprint.get("/<job_id>/outputs/<int:index>")
def output(job_id: str, index: int):
    job = _load_job(job_id)
    if index >= len(job.outputs):
        raise NotFound(f"job {job.id} has {len(job.outputs)} outputs, numbered from 0")
    if job.status is not core.JobStatus.COMPLETE:
        message = (f"job {job.status.value}: {job.message}" if job.status.is_terminal
                   else f"job is {job.status.value}; the thumbnail is not ready yet")
        return error_response(HTTPStatus.CONFLICT, message, status=job.status.value)
    stored = backends().jobs.load_output(job.id, index)
    response = Response(stored.data, content_type=stored.content_type)
    response.set_etag(_etag(job.id, index, stored.version, stored.data))
    response.last_modified = job.finish
    signed_until = g.get("signed_until")
    if signed_until is None:
        response.cache_control.private = True
        response.cache_control.max_age = THUMBNAIL_MAX_AGE_SECONDS
    else:
        response.headers["Cache-Control"] = public_cache_control(signed_until - int(time.time()))
    return response.make_conditional(request)


def _etag(job_id: str, index: int, version: str, data: bytes) -> str:
    """Strong: it changes with the bytes. S3's ETag stands for them; the folder store reads
    outputs without a version (get_data), so there the bytes are hashed."""
    content = version.encode() if version else hashlib.sha256(data).digest()
    return hashlib.sha256(f"{job_id}/{index}/".encode() + content).hexdigest()[:32]


@blueprint.delete("/<job_id>")
def cancel(job_id: str):
    """Pending or processing: cancelled (the thumbnailer skips it or discards its output).
    Finished: input, thumbnail and document are deleted."""
    previous = _load_job(job_id).status.value  # 404 / 410 unless it is the caller's own, unexpired
    finished = False

    def cancel_unless_finished(job: core.Job) -> bool:
        nonlocal previous, finished
        previous, finished = job.status.value, job.status.is_terminal
        if not finished:
            job.cancel()
        return not finished

    try:
        job = backends().jobs.update(job_id, cancel_unless_finished)
    except core.Conflict:
        return error_response(HTTPStatus.CONFLICT, "the job kept changing while being cancelled; try again")
    metrics.JOBS_CANCELLED.labels(previous_status=previous).inc()
    if finished:
        backends().jobs.delete_all(job.id, len(job.outputs))
        log.info("job deleted", extra={"job_id": job.id, "outcome": "deleted", "previous_status": previous})
        return Response(status=HTTPStatus.NO_CONTENT)
    backends().jobs.delete_data(job.id, len(job.outputs))
    backends().waiting.remove(job.owner, job.id)
    log.info("job cancelled", extra={"job_id": job.id, "outcome": "cancelled", "previous_status": previous})
    return _job_response(job)
