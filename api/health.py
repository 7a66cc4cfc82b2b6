"""Liveness and readiness probes for load balancers and orchestrators."""

import logging
from http import HTTPStatus

from flask import Blueprint, jsonify

import core
from api.context import backends

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():
    """Ready when both the object store and the queue answer; say which one does not."""
    checks = {"storage": backends().objects.ping, "queue": backends().inbox.ping}
    if backends().jobs.history:
        checks["jobs"] = backends().jobs.ping  # the job database
    results = {}
    for name, ping in checks.items():
        try:
            ping()
            results[name] = "ok"
        except core.PermissionDenied as error:
            # The action the credentials lack is no secret and tells an operator what to grant.
            log.warning("readiness check refused", extra={"check": name, "reason": str(error)})
            results[name] = f"refused: {error.action}"
        except core.ThumbnailsError as error:
            # The detail (a path, an endpoint) goes to the log, not to whoever asks.
            log.warning("readiness check failed", extra={"check": name, "reason": str(error)})
            results[name] = "unavailable"
    ready = all(result == "ok" for result in results.values())
    response = jsonify(status="ok" if ready else "unavailable", checks=results)
    response.status_code = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
    return response
