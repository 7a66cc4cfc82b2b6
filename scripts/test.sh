#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need (the venv, Debian's chromium
# for the page test, helm), starts the real MinIO and ElasticMQ if they are not running, runs pytest,
# and stops the servers it started; then, for a whole run (no pytest arguments), runs
# docker-compose.yaml for real with scripts/compose-test.sh.
#   scripts/test.sh [pytest arguments]        KEEP_SERVICES=1 leaves the servers running
#   FAST=1 scripts/test.sh                    pytest only, without the compose run
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
scripts/browser.sh
scripts/tools.sh
if [ $# -gt 0 ] || [ -n "${FAST:-}" ]; then
  exec scripts/with-services.sh .venv/bin/python -m pytest "$@"
fi
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
scripts/with-services.sh .venv/bin/python -m pytest 2>&1 | tee "$summary" || status=$?
scripts/compose-test.sh || status=$?
tail -n 1 "$summary"  # pytest's summary stays the closing line
exit "$status"
