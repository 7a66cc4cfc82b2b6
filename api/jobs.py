"""/jobs: submit an image, report a job, download its thumbnail, cancel it."""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from urllib.parse import urljoin

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import Gone, HTTPException, NotFound

import core
from api import metrics
from api.auth import require_owner
from api.context import backends, settings
from api.errors import RETRY_AFTER_SECONDS, error_response
from api.options import read_options
from api.uploads import read_upload
from core.errors import InvalidOption, OutcomeUnknown
from core.job import job_hint, output_path, status_path

log = logging.getLogger(__name__)
blueprint = Blueprint("jobs", __name__, url_prefix="/jobs")
blueprint.before_request(require_owner)
THUMBNAIL_MAX_AGE_SECONDS = 3600
# What a client over its cap of waiting jobs is told to wait: jobs start in seconds to minutes.
WAITING_RETRY_AFTER_SECONDS = 30


def _absolute(path: str) -> str:
    """A URL for the client: from PUBLIC_URL when set, never then from the request's Host."""
    return urljoin(settings().public_url or request.url_root, path.lstrip("/"))


def _job_response(job: core.Job, status: int = HTTPStatus.OK) -> Response:
    document = job.to_dict()
    document["location"] = _absolute(job.location)
    for index, output in enumerate(document["outputs"]):
        output["url"] = _absolute(output_path(job.id, index))
    response = jsonify(document)
    response.status_code = status
    return response


def _load_job(job_id: str) -> core.Job:
    """The caller's own job. Someone else's job is reported exactly like a missing one."""
    try:
        job = backends().jobs.load(job_id)
    except core.NotFound:
        job = None
    if job is None or job.owner != g.owner:
        raise NotFound("no such job")  # the same words whether missing or not yours
    if job.is_expired(settings().retention_seconds):
        backends().jobs.delete_data(job.id, len(job.outputs))
        raise Gone(f"job {job.id} finished more than {settings().retention_seconds} s ago; its data was removed")
    return job


@blueprint.post("")
def submit():
    started = time.perf_counter()
    try:
        options = read_options(request, settings())
    except InvalidOption as error:
        metrics.JOBS_REFUSED.labels(code=str(HTTPStatus.BAD_REQUEST.value)).inc()
        log.info("options refused", extra={"code": 400, "outcome": "refused", "reason": str(error)})
        return error_response(HTTPStatus.BAD_REQUEST, str(error), field=error.field)
    cap = settings().max_waiting_jobs_per_owner
    waiting = backends().waiting
    # Markers only while there is a backlog (storage.waiting): then the owner's marked jobs
    # may fill the part of the cap that jobs accepted unmarked did not take.
    marked = waiting.needs_markers(cap)
    if marked and waiting.count(g.owner, cap) >= cap - waiting.unmarked_share(cap):
        metrics.JOBS_REFUSED.labels(code=str(HTTPStatus.TOO_MANY_REQUESTS.value)).inc()
        log.info("job refused: too many waiting", extra={"code": 429, "outcome": "refused"})
        response = error_response(HTTPStatus.TOO_MANY_REQUESTS,
                                  f"you have {cap} jobs waiting, the most allowed; submit more once some have started")
        response.headers["Retry-After"] = str(WAITING_RETRY_AFTER_SECONDS)
        return response
    try:
        upload = read_upload(request, settings().max_upload_bytes, settings().max_image_pixels)
    except HTTPException as error:
        metrics.JOBS_REFUSED.labels(code=str(error.code)).inc()
        log.info("upload refused", extra={"code": error.code, "outcome": "refused", "reason": error.description})
        raise
    job = core.Job(owner=g.owner, outputs=options.outputs, priority=options.priority,
                      callback_url=options.callback_url)
    jobs = backends().jobs
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
            response = error_response(HTTPStatus.SERVICE_UNAVAILABLE, "queue unavailable; try again shortly",
                                      job=job.id)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        # A thumbnailer got the message after all (the send failed only on its way back).
        log.info("job queued after all", extra={"job_id": job.id, "status": job.status.value})
    metrics.JOBS_ACCEPTED.inc()
    metrics.UPLOAD_BYTES.observe(upload.size)
    log.info("job accepted", extra={
        "job_id": job.id, "outcome": "accepted", "format": upload.format, "width": upload.width,
        "height": upload.height, "bytes": upload.size, "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    })
    response = _job_response(job, HTTPStatus.ACCEPTED)
    response.headers["Location"] = _absolute(status_path(job.id))
    return response


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
    response.cache_control.private = True
    response.cache_control.max_age = THUMBNAIL_MAX_AGE_SECONDS
    return response


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
