"""The api: accepts uploads, reports jobs, serves thumbnails."""

from __future__ import annotations

import logging
import os

from flask import Flask

import storage
from api import errors, health, jobs, pages

log = logging.getLogger(__name__)
# Room for multipart boundaries and headers around a file of the maximum size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: storage.Settings | None = None, backends: storage.Backends | None = None) -> Flask:
    """Build the app; the environment is read only when no settings are given."""
    settings = settings or storage.Settings.from_env(os.environ)
    backends = backends or storage.connect(settings)
    try:
        backends.ensure()
    except storage.TransientError as error:
        # Start anyway: /readyz reports the dependency, requests answer 503 until it is back.
        log.warning("storage not reachable at start-up: %s", error)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    app.json.sort_keys = False
    app.extensions["thumbnails.settings"] = settings
    app.extensions["thumbnails.backends"] = backends

    errors.init_app(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(jobs.blueprint)
    app.register_blueprint(pages.blueprint)
    return app
