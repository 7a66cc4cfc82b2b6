"""The api: accepts uploads, reports jobs, serves thumbnails."""

from __future__ import annotations

import os

from flask import Flask

import core
import storage

# Room for multipart boundaries and headers around a file of the maximum size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: core.Settings | None = None, backends: storage.Backends | None = None) -> Flask:
    """Build the app; the environment is read only when no settings are given."""
    # Imported here, not at module level: `python -m api` imports this package before
    # gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads on import.
    from api import (
        auth,
        errors,
        forms,
        headers,
        health,
        history,
        jobs,
        metrics,
        openapi,
        options,
        pages,
        request_ids,
        signing,
        startup,
    )

    settings = settings or core.Settings.from_env(os.environ)
    backends = backends or storage.connect(settings)
    startup.set_up_or_retry(backends, settings.retention_seconds)

    app = Flask(__name__)
    app.request_class = forms.UploadRequest  # multipart bodies in one pass
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = options.MAX_FORM_MEMORY_BYTES
    app.config["MAX_FORM_PARTS"] = options.MAX_FORM_PARTS
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's setting
    app.extensions["thumbnails.settings"] = settings
    app.extensions["thumbnails.backends"] = backends

    request_ids.init_app(app)
    errors.init_app(app)
    headers.init_app(app, signing.image_urls(settings, backends))
    auth.init_app(app, settings)
    openapi.init_app(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(jobs.blueprint)
    app.register_blueprint(history.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(openapi.blueprint)
    return app
