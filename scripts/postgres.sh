#!/usr/bin/env bash
# A private PostgreSQL cluster on loopback for the tests and the benchmark, without Docker.
#
#   scripts/postgres.sh install       Debian's postgresql package (apt-get; once)
#   scripts/postgres.sh start         initdb on first use, then start; a no-op when it answers
#   scripts/postgres.sh stop
#   scripts/postgres.sh status
#   scripts/postgres.sh url           the URL to put in JOBS_URL / QUEUE_URL
#
# Settings (environment): POSTGRES_PORT (5432 + 20000 = 25432), SERVICES_DIR (<repo>/.services).
# The cluster lives in SERVICES_DIR/postgres, trusts connections from 127.0.0.1 only (no
# password: it is a test server) and has a database `thumbnails`. initdb refuses to run as
# root, so as root the cluster belongs to the `postgres` user the package creates (and lives in
# that user's home when it cannot reach SERVICES_DIR, as under /root).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run_dir=${SERVICES_DIR:-$root/.services}
port=${POSTGRES_PORT:-25432}
data=$run_dir/postgres
[ -f "$run_dir/postgres.where" ] && data=$(cat "$run_dir/postgres.where")
database=thumbnails

log() { echo "postgres: $*" >&2; }

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

install() {
  bindir >/dev/null && return
  log "installing Debian's postgresql package"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
  fi
}

as_owner() {  # run a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

up() { "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; }

start() {
  up && { log "already answers on $port"; return; }
  install
  local bin; bin=$(bindir)
  mkdir -p "$run_dir"
  if [ "$(id -u)" = 0 ] && [ ! -f "$data/PG_VERSION" ] && ! runuser -u postgres -- test -x "$run_dir"; then
    # A checkout under /root: the postgres user cannot reach it, so the cluster lives in its home.
    data=$(getent passwd postgres | cut -d: -f6)/thumbnails-$port
    echo "$data" >"$run_dir/postgres.where"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    chmod 700 "$data"
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
fsync = on
CONF
  fi
  as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null
  up || { log "did not come up; its log:"; tail -n 30 "$data/server.log" >&2; exit 1; }
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$database"
  log "up on $port"
}

stop() {
  [ -f "$data/postmaster.pid" ] || return 0
  as_owner "$(bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null && log "stopped"
}

case ${1:-} in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) up && echo "postgres: up on $port" || echo "postgres: down" ;;
  url) echo "postgresql://postgres@127.0.0.1:$port/$database" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
