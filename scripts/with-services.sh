#!/usr/bin/env bash
# Run a command with the real MinIO and ElasticMQ up: installs them if needed, starts them if
# they are not running, runs the command, and stops only what it started.
#   scripts/with-services.sh COMMAND [ARGUMENTS]      KEEP_SERVICES=1 leaves the servers running
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh install
started=""
status=$(scripts/services.sh status)  # not piped into grep -q: pipefail would see its SIGPIPE
[[ $status == *down* ]] && started=yes
scripts/services.sh start
if [ -n "$started" ] && [ -z "${KEEP_SERVICES:-}" ]; then
  trap 'scripts/services.sh stop' EXIT
fi
"$@"
