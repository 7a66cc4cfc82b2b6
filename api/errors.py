"""Every error leaves the api as JSON with a message."""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

import core

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
# No error answer repeats more than this of any message (which may quote client input).
MAX_MESSAGE_CHARS = 500


def error_response(http_status: int, message: str, **extra):
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "…"
    response = jsonify(error=HTTPStatus(http_status).phrase, message=message, **extra)
    response.status_code = http_status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or HTTPStatus.INTERNAL_SERVER_ERROR
        response = error_response(code, error.description or HTTPStatus(code).phrase)
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(core.TransientError)
    def unavailable(error: core.TransientError):
        log.warning("dependency unavailable: %s", error)
        response = error_response(HTTPStatus.SERVICE_UNAVAILABLE, "storage or queue unavailable; try again shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(core.PermissionDenied)
    def not_permitted(error: core.PermissionDenied):
        """A permission the IAM policy lacks: the operator's problem, so the log names the action."""
        dependency = "queue" if error.action.startswith("sqs:") else "storage"
        log.error("dependency refused a permission: %s", error, extra={"action": error.action})
        response = error_response(HTTPStatus.SERVICE_UNAVAILABLE,
                                  f"the {dependency} refused this service's credentials; an operator must fix it",
                                  dependency=dependency, action=error.action)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(core.NotFound)
    def not_found(error: core.NotFound):
        return error_response(HTTPStatus.NOT_FOUND, str(error))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
