"""GET /openapi.json (the api's OpenAPI 3.1 description, api/openapi.yaml) and GET /docs (a page
that renders it from api/static, with nothing fetched from elsewhere).

The YAML is read and checked once, when the app is built. Parts that describe features still on
other branches carry `x-pending: <feature>`; they stay out of the served document until their
mark is removed (see the file's header)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Flask, current_app, jsonify

SPEC_FILE = Path(__file__).with_name("openapi.yaml")
PENDING = "x-pending"

blueprint = Blueprint("openapi", __name__)


def init_app(app: Flask) -> None:
    app.extensions["thumbnails.openapi"] = _served_document()


@functools.cache
def _served_document() -> dict[str, Any]:
    """Read once per process: parsing takes tens of milliseconds, and apps are built often in tests."""
    return served(load())


def load(path: Path = SPEC_FILE) -> dict[str, Any]:
    """The whole document, pending parts included."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML was built with it
    with path.open(encoding="utf-8") as file:
        return yaml.load(file, Loader=loader)  # a safe loader: plain data only


def pending_features(node: Any) -> set[str]:
    """Every feature named by an x-pending mark anywhere in the document."""
    if isinstance(node, dict):
        found = {node[PENDING]} if PENDING in node else set()
        return found.union(*(pending_features(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(pending_features(item) for item in node))
    return set()


def served(document: dict[str, Any]) -> dict[str, Any]:
    """The document without its pending parts: each object marked x-pending, each $ref to a
    marked component, and each security requirement naming a marked scheme."""
    pending_refs = {f"#/components/{kind}/{name}"
                    for kind, entries in document.get("components", {}).items()
                    for name, entry in entries.items() if isinstance(entry, dict) and PENDING in entry}
    pending_schemes = {ref.rsplit("/", 1)[1] for ref in pending_refs if ref.startswith("#/components/securitySchemes/")}

    def dropped(node: Any) -> bool:
        return isinstance(node, dict) and (PENDING in node or node.get("$ref") in pending_refs)

    def strip(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {name: strip(value, name) for name, value in node.items() if not dropped(value)}
        if isinstance(node, list):
            return [strip(item) for item in node if not dropped(item)
                    and not (key == "security" and pending_schemes & set(item))]
        return node

    return strip(document)


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(current_app.extensions["thumbnails.openapi"])


@blueprint.get("/docs")
def docs():
    return current_app.send_static_file("docs.html")
