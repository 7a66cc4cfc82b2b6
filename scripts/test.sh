#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need (the venv, Debian's chromium
# for the page test), starts the real MinIO and ElasticMQ if they are not running, runs pytest,
# and stops the servers it started.
#   scripts/test.sh [pytest arguments]        KEEP_SERVICES=1 leaves the servers running
#   scripts/test.sh --fast [pytest arguments] the fast lane (also FAST=1): every test that needs
#                                             neither the servers nor the browser, none started,
#                                             in 4 processes (pytest-xdist; `-n 0`: in this one)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
  FAST=1
  shift
fi
scripts/venv.sh
if [ -n "${FAST:-}" ]; then
  exec .venv/bin/python -m pytest -m "not servers and not browser" -n 4 --dist loadfile "$@"
fi
scripts/browser.sh
scripts/with-services.sh .venv/bin/python -m pytest "$@"
