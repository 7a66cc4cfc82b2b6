"""Signed output URLs in the api: the links put in job documents, and the check of a request
that carries one instead of a key (core/signing.py does the cryptography).

The secret is URL_SIGNING_SECRET, or else one made once and kept in the object store
(storage/secrets.py), read on first use and held for the process's life.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Request, current_app
from werkzeug.exceptions import Forbidden

import core
import storage
from api.context import backends, settings
from core import signing
from core.job import output_path
from storage.secrets import shared_secret

SECRET_NAME = "url-signing"
# SigV4 pre-signed URLs live at most 7 days (and no longer than the credentials that signed them).
S3_MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# One answer for every bad signature, whether the job exists or not.
REFUSED = "this signed URL is not valid or has expired; ask the job's owner for a fresh one"


def secret() -> bytes:
    cached = current_app.extensions.get("thumbnails.url_secret")
    if cached is None:
        configured = settings().url_signing_secret
        cached = configured.encode() if configured else shared_secret(backends().objects, SECRET_NAME)
        current_app.extensions["thumbnails.url_secret"] = cached
    return cached


def image_urls(settings: core.Settings, backends: storage.Backends) -> tuple[str, ...]:
    """Where signed URLs point besides the request's own host: PUBLIC_URL, and with SIGNED_URLS=s3
    the bucket's endpoint (a URL pre-signed now, locally, shows it), for the page's CSP."""
    urls = [settings.public_url] if settings.public_url else []
    if settings.signed_urls == "s3":
        urls.append(backends.objects.presigned_get(SECRET_NAME, 1, signing.public_cache_control(1)))
    return tuple(urls)


def is_signed(request: Request) -> bool:
    """The request asks to be let in by a signature (right or wrong), not by a key."""
    return any(name in request.args for name in signing.QUERY_NAMES)


def check(request: Request) -> int:
    """The expiry of the request's valid signature; else 403, the same for every failure."""
    expires = signing.verify(secret(), request.path, request.args.get(signing.EXPIRES),
                             request.args.get(signing.SIGNATURE), time.time())
    if expires is None:
        raise Forbidden(REFUSED)
    return expires


def add_signed_urls(document: dict, job: core.Job, root: str) -> None:
    """Give each output of a complete job its `signed_url` (null before completion and once
    expired), and the document `signed_urls_expire`: one expiry for the job, fixed from its
    finish. With SIGNED_URLS=s3 they are S3 pre-signed GETs instead, which S3 caps at 7 days
    from now and which therefore differ at each read."""
    document.setdefault("url_ttl_seconds", None)  # stored only when asked for (core/job.py)
    now = time.time()
    expires = job.urls_expire(settings().signed_url_ttl_seconds, settings().retention_seconds)
    if expires is not None and expires <= now:
        expires = None
    presigned = expires is not None and settings().signed_urls == "s3"
    if presigned and expires is not None:
        expires = min(expires, int(now) + S3_MAX_PRESIGN_SECONDS)
    document["signed_urls_expire"] = (None if expires is None else
                                      datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds"))
    for index, output in enumerate(document["outputs"]):
        path = output_path(job.id, index)
        if expires is None:
            output["signed_url"] = None
        elif presigned:
            seconds = max(1, expires - int(now))
            output["signed_url"] = backends().jobs.presigned_output(job.id, index, seconds,
                                                                    signing.public_cache_control(seconds))
        else:
            output["signed_url"] = f"{root}{path.lstrip('/')}?{signing.signed_query(secret(), path, expires)}"
