"""GET /openapi.json (the api's OpenAPI 3.1 description, api/openapi.yaml) and GET /docs (a page
that renders it from api/static, with nothing fetched from elsewhere).

The YAML is read once per process, when the first app is built."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Flask, current_app, jsonify

SPEC_FILE = Path(__file__).with_name("openapi.yaml")

blueprint = Blueprint("openapi", __name__)


def init_app(app: Flask) -> None:
    app.extensions["thumbnails.openapi"] = _served_document()


@functools.cache
def _served_document() -> dict[str, Any]:
    """Read once per process: parsing takes tens of milliseconds, and apps are built often in tests."""
    return load()


def load(path: Path = SPEC_FILE) -> dict[str, Any]:
    """The document, as plain data."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML was built with it
    with path.open(encoding="utf-8") as file:
        return yaml.load(file, Loader=loader)  # a safe loader: plain data only


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(current_app.extensions["thumbnails.openapi"])


@blueprint.get("/docs")
def docs():
    return current_app.send_static_file("docs.html")
