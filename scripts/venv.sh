#!/usr/bin/env bash
# Create .venv (once) and install the project with its test extras into it; again only when
# pyproject.toml changes (the install is editable, so code changes need no reinstall).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
[ -e "$stamp" ] && exit 0
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
rm -f .venv/.installed-*
touch "$stamp"
