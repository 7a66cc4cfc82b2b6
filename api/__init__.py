"""The api: accepts uploads, reports jobs, serves thumbnails."""

from __future__ import annotations

import logging
import os

from flask import Flask

import core
import storage
from storage.access import check_access

log = logging.getLogger(__name__)
# Room for multipart boundaries and headers around a file of the maximum size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: core.Settings | None = None, backends: storage.Backends | None = None) -> Flask:
    """Build the app; the environment is read only when no settings are given."""
    # Imported here, not at module level: `python -m api` imports this package before
    # gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads on import.
    from api import auth, errors, headers, health, jobs, metrics, options, pages, request_ids

    settings = settings or core.Settings.from_env(os.environ)
    backends = backends or storage.connect(settings)
    try:
        backends.ensure()
        backends.jobs.expire_after(settings.retention_seconds)
        check_access(backends)
    except core.PermissionDenied:
        raise  # a policy that lacks an action never goes live: the error names the action
    except core.TransientError as error:
        # Start anyway: /readyz reports the dependency, requests answer 503 until it is back.
        log.warning("storage not reachable at start-up: %s", error)
    except core.ThumbnailsError as error:
        log.warning("could not set the bucket's expiry rule (expired data is still refused): %s", error)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = options.MAX_FORM_MEMORY_BYTES
    app.config["MAX_FORM_PARTS"] = options.MAX_FORM_PARTS
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's setting
    app.extensions["thumbnails.settings"] = settings
    app.extensions["thumbnails.backends"] = backends

    request_ids.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    auth.init_app(app, settings)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(jobs.blueprint)
    app.register_blueprint(pages.blueprint)
    return app
