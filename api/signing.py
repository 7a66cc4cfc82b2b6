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
from api.context import backends, settings
from core import signing
from core.job import output_path
from storage.secrets import shared_secret

SECRET_NAME = "url-signing"
# One answer for every bad signature, whether the job exists or not.
REFUSED = "this signed URL is not valid or has expired; ask the job's owner for a fresh one"


def secret() -> bytes:
    cached = current_app.extensions.get("thumbnails.url_secret")
    if cached is None:
        configured = settings().url_signing_secret
        cached = configured.encode() if configured else shared_secret(backends().objects, SECRET_NAME)
        current_app.extensions["thumbnails.url_secret"] = cached
    return cached


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
    expired), and the document `signed_urls_expire`: one expiry for the job, fixed from its finish."""
    expires = job.urls_expire(settings().signed_url_ttl_seconds, settings().retention_seconds)
    if expires is not None and expires <= time.time():
        expires = None
    document["signed_urls_expire"] = (None if expires is None else
                                      datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds"))
    key = None if expires is None else secret()
    for index, output in enumerate(document["outputs"]):
        path = output_path(job.id, index)
        output["signed_url"] = (None if key is None or expires is None
                                else f"{root}{path.lstrip('/')}?{signing.signed_query(key, path, expires)}")
