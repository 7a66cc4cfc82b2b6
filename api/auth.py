"""Who is asking: the owner behind a Bearer key, within their request budget.

Wrong keys are throttled per client address: past WRONG_KEYS_PER_MINUTE, every key from that
address (right or wrong) gets 429 with Retry-After until the budget refills, so keys cannot be
guessed at speed. Behind a proxy the address is the proxy's (see README, Security)."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized

import core
from api.ratelimit import RateLimiter
from core.job import ANONYMOUS
from core.keys import KeyRing
from core.logs import bind

log = logging.getLogger(__name__)
CHALLENGE = WWWAuthenticate("Bearer", {"realm": "thumbnails"})
WRONG_KEYS_PER_MINUTE = 20  # per client address and api worker process


def init_app(app: Flask, settings: core.Settings) -> None:
    keys = KeyRing.from_settings(settings.api_keys, settings.api_keys_file)
    if not keys.records and not settings.allow_anonymous:
        log.warning("no API keys configured and ALLOW_ANONYMOUS is off: every job request will get 401")
    app.extensions["thumbnails.keys"] = keys
    app.extensions["thumbnails.rate_limiter"] = RateLimiter(settings.rate_limit_per_minute)
    app.extensions["thumbnails.wrong_keys"] = RateLimiter(WRONG_KEYS_PER_MINUTE)
    app.extensions["thumbnails.allow_anonymous"] = settings.allow_anonymous


def require_owner() -> None:
    """A blueprint's before_request: set g.owner or refuse with 401/429."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if not header and current_app.extensions["thumbnails.allow_anonymous"]:
        owner = ANONYMOUS
    elif scheme.lower() != "bearer" or not key:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", www_authenticate=CHALLENGE)
    else:
        wrong_keys = current_app.extensions["thumbnails.wrong_keys"]
        address = request.remote_addr or "unknown"
        if retry_after := wrong_keys.retry_after(address, take=False):
            raise TooManyRequests(f"too many wrong API keys from this address; retry in {retry_after} s",
                                  retry_after=retry_after)
        owner = current_app.extensions["thumbnails.keys"].owner_of(key)
        if owner is None:
            wrong_keys.retry_after(address)
            log.info("wrong API key", extra={"remote": address, "outcome": "refused"})
            raise Unauthorized("the API key is not valid", www_authenticate=CHALLENGE)
    retry_after = current_app.extensions["thumbnails.rate_limiter"].retry_after(owner)
    if retry_after:
        raise TooManyRequests(f"rate limit reached; retry in {retry_after} s", retry_after=retry_after)
    g.owner = owner
    bind(owner=owner)  # undone with the request id at teardown (api/request_ids.py)
