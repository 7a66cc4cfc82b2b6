#!/usr/bin/env bash
# ruff (style, import order, likely bugs) and mypy (types), as configured in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
