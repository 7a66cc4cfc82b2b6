#!/usr/bin/env bash
# Run a command with the real MinIO, ElasticMQ and PostgreSQL up: installs them if needed,
# starts them if they are not running, runs the command, and stops only what it started.
#   scripts/with-services.sh COMMAND [ARGUMENTS]      KEEP_SERVICES=1 leaves the servers running
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh install
scripts/postgres.sh install
started=""
status=$(scripts/services.sh status)  # not piped into grep -q: pipefail would see its SIGPIPE
[[ $status == *down* ]] && started=yes
postgres_started=""
[[ $(scripts/postgres.sh status) == *down* ]] && postgres_started=yes
scripts/services.sh start
scripts/postgres.sh start
if [ -z "${KEEP_SERVICES:-}" ]; then
  trap '[ -n "$started" ] && scripts/services.sh stop; [ -n "$postgres_started" ] && scripts/postgres.sh stop; true' EXIT
fi
"$@"
