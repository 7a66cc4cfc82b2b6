"""The test suite's own rules: helpers are imported from helper modules, never from conftest or
from another test module (which would run that module's tests' imports and fixtures twice)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def forbidden_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            last = name.rsplit(".", 1)[-1]
            if last == "conftest" or last.startswith("test_"):
                found.append(f"{path.name}:{node.lineno} imports {name}")
                break
    return found


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.py")), ids=lambda path: path.name)
def test_no_module_imports_conftest_or_a_test_module(path):
    assert forbidden_imports(path) == []


def test_the_rule_sees_both_import_forms(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("from tests.conftest import ALICE\nimport tests.test_api\nfrom tests import test_cli\n")
    assert forbidden_imports(bad) == ["test_bad.py:1 imports tests.conftest", "test_bad.py:2 imports tests.test_api",
                                      "test_bad.py:3 imports tests.test_cli"]
