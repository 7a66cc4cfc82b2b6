"""The layering a newcomer can see: `core` (no I/O) under `storage` (persistence), under the api
and the thumbnailer, which never import each other; the CLI and process tools sit on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"core", "storage", "api", "thumbnailer", "cli", "processes", "bench", "tests"}
# What each package may import of this project (itself always).
ALLOWED = {
    "core": set(),
    "storage": {"core"},
    "api": {"core", "storage"},
    "thumbnailer": {"core", "storage", "processes"},
    "processes": {"core"},
    "cli": {"core", "storage", "api", "thumbnailer", "processes"},
}
# The kernel stays free of I/O clients and web frameworks.
CORE_FORBIDDEN = {"boto3", "botocore", "flask", "werkzeug", "gunicorn", "sqlite3", "requests", "prometheus_client"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module the file imports (relative imports name their package)."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(path.relative_to(ROOT).parts[0] if node.level else (node.module or "").split(".")[0])
    return names


def violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if name in FIRST_PARTY and name != package and name not in ALLOWED[package]:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
            if package == "core" and name in CORE_FORBIDDEN:
                found.append(f"{path.relative_to(ROOT)} imports {name} (core has no I/O clients)")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_the_layers_below_them(package):
    if not (ROOT / package).is_dir():
        pytest.fail(f"{package}/ is missing")
    assert violations(package) == []


def test_the_rule_catches_a_violation(tmp_path, monkeypatch):
    """The walker sees both import forms; without this the test above could pass vacuously."""
    fake_root = tmp_path
    (fake_root / "api").mkdir()
    (fake_root / "api" / "bad.py").write_text("import thumbnailer.worker\nfrom thumbnailer import pool\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", fake_root)
    assert violations("api") == ["api/bad.py imports thumbnailer"]
