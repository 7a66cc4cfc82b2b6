"""/jobs: submit an image, report a job, download its thumbnail."""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import urljoin

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import NotFound

import storage
from storage.job import status_path
from api.context import backends, settings
from api.errors import RETRY_AFTER_SECONDS, error_response
from api.uploads import read_upload

log = logging.getLogger(__name__)
blueprint = Blueprint("jobs", __name__, url_prefix="/jobs")
THUMBNAIL_MAX_AGE_SECONDS = 3600


def _job_response(job: storage.Job, status: int = HTTPStatus.OK) -> Response:
    document = job.to_dict()
    document["location"] = urljoin(request.url_root, job.location.lstrip("/"))
    response = jsonify(document)
    response.status_code = status
    return response


def _load_job(job_id: str) -> storage.Job:
    try:
        return backends().jobs.load(job_id)
    except storage.NotFound:
        raise NotFound(f"no job {job_id}") from None


@blueprint.post("")
def submit():
    upload = read_upload(request, settings().max_upload_bytes, settings().max_image_pixels)
    job = storage.Job()
    jobs = backends().jobs
    jobs.save_input(job.id, upload.stream, upload.content_type)
    jobs.save(job)
    try:
        backends().queue.send(job.id)
    except (storage.TransientError, storage.NotFound) as error:
        # NotFound: the queue itself is gone (an in-memory ElasticMQ that restarted): still a
        # service outage for the client, not a missing resource.
        log.warning("job %s not queued: %s", job.id, error)
        job.fail(HTTPStatus.SERVICE_UNAVAILABLE, "the queue was unavailable; submit the image again")
        jobs.save(job)
        response = error_response(HTTPStatus.SERVICE_UNAVAILABLE, "queue unavailable; try again shortly", job=job.id)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    log.info("job %s accepted: %s %dx%d, %d bytes", job.id, upload.format, upload.width, upload.height, upload.size)
    response = _job_response(job, HTTPStatus.ACCEPTED)
    response.headers["Location"] = urljoin(request.url_root, status_path(job.id).lstrip("/"))
    return response


@blueprint.get("/<job_id>")
def status(job_id: str):
    return _job_response(_load_job(job_id))


@blueprint.get("/<job_id>/thumbnail")
def thumbnail(job_id: str):
    job = _load_job(job_id)
    if job.status is not storage.JobStatus.COMPLETE:
        message = (f"job failed: {job.message}" if job.status is storage.JobStatus.FAILED
                   else f"job is {job.status.value}; the thumbnail is not ready yet")
        return error_response(HTTPStatus.CONFLICT, message, status=job.status.value)
    stored = backends().jobs.load_thumbnail(job.id)
    response = Response(stored.data, content_type=stored.content_type)
    response.cache_control.private = True
    response.cache_control.max_age = THUMBNAIL_MAX_AGE_SECONDS
    return response
