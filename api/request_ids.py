"""A request id per request: taken from X-Request-ID when sane, else made; echoed and logged."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

from core.logs import bind, unbind

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def init_app(app: Flask) -> None:
    @app.before_request
    def start():
        supplied = request.headers.get(HEADER, "")
        g.request_id = supplied if _SANE.match(supplied) else uuid.uuid4().hex
        g.log_token = bind(request_id=g.request_id)

    @app.after_request
    def echo(response):
        response.headers[HEADER] = g.get("request_id", "")
        return response

    @app.teardown_request
    def finish(error=None):
        token = g.pop("log_token", None)
        if token is not None:
            unbind(token)
