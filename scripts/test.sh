#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need (the venv, Debian's chromium
# for the page test, helm), runs ruff and mypy, starts the real MinIO and ElasticMQ if they are
# not running, runs pytest, and stops the servers it started; then, for a whole run (no pytest
# arguments), runs docker-compose.yaml for real with scripts/compose-test.sh.
#   scripts/test.sh [pytest arguments]        KEEP_SERVICES=1 leaves the servers running
#   scripts/test.sh --fast [pytest arguments] the fast lane (also FAST=1): lint, then every test on
#                                             the embedded backends (not `servers`, `moto` or
#                                             `browser`), no server started, in 4 processes
#                                             (pytest-xdist; `-n 0`: in this one)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
  FAST=1
  shift
fi
scripts/venv.sh
scripts/lint.sh
if [ -n "${FAST:-}" ]; then
  exec .venv/bin/python -m pytest -m "not servers and not moto and not browser" -n 4 --dist loadfile "$@"
fi
scripts/browser.sh
scripts/tools.sh
if [ $# -gt 0 ]; then
  exec scripts/with-services.sh .venv/bin/python -m pytest "$@"
fi
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
scripts/with-services.sh .venv/bin/python -m pytest 2>&1 | tee "$summary" || status=$?
scripts/compose-test.sh || status=$?
tail -n 1 "$summary"  # pytest's summary stays the closing line
exit "$status"
