#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need (the venv, Debian's chromium
# for the page test), starts the real MinIO and ElasticMQ if they are not running, runs pytest,
# and stops the servers it started.
#   scripts/test.sh [pytest arguments]        KEEP_SERVICES=1 leaves the servers running
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
scripts/browser.sh
scripts/with-services.sh .venv/bin/python -m pytest "$@"
