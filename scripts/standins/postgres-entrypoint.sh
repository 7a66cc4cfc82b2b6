#!/bin/bash
# Entrypoint of the postgres:15 stand-in (postgres.Dockerfile): what docker-compose.yaml relies on
# from the official image's docker-entrypoint.sh, nothing more.
#
#   - as root: makes PGDATA (the volume) and the socket directory the postgres user's, then runs
#     itself again as that user (setpriv execs: no process stays in between);
#   - on first start (no PGDATA/PG_VERSION): initdb with POSTGRES_USER as the superuser and
#     POSTGRES_PASSWORD as its password, listen on every address, password (scram-sha-256) auth
#     from the network and trust on the local socket, POSTGRES_DB created owned by POSTGRES_USER;
#   - then execs postgres in the foreground (PID 1): SIGINT (the image's STOPSIGNAL, as the
#     official image's) is a fast shutdown, SIGTERM a smart one.
#
# The set-up runs on a temporary server that listens on a private socket directory only, so the
# health check (pg_isready on the default socket) does not pass before POSTGRES_DB exists.
# Not supported: /docker-entrypoint-initdb.d, POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD,
# *_FILE secrets.
set -Eeuo pipefail

log() { echo "postgres-entrypoint: $*" >&2; }

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
# `docker run IMAGE -c name=value`: options for postgres.
if [ "${1:0:1}" = "-" ]; then
  set -- postgres "$@"
fi
[ "${1:-}" = postgres ] || exec "$@"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  # A fresh named volume, or one that another image's postgres user (another uid) made.
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    log "the database is uninitialized and POSTGRES_PASSWORD is not set: set it"
    exit 1
  fi
  user=${POSTGRES_USER:-postgres}
  database=${POSTGRES_DB:-$user}
  log "initializing $PGDATA (superuser $user, database $database)"
  initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  cat >>"$PGDATA/postgresql.conf" <<'CONF'

# postgres:15 stand-in (scripts/standins/postgres-entrypoint.sh)
listen_addresses = '*'
CONF
  cat >>"$PGDATA/pg_hba.conf" <<'HBA'

# postgres:15 stand-in: password authentication from any address (compose's network)
host all all all scram-sha-256
HBA

  init_socket=$(mktemp -d)
  pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c unix_socket_directories='$init_socket'" start >/dev/null
  if [ "$database" != postgres ]; then
    # The name as a quoted identifier (it came from the environment).
    psql -v ON_ERROR_STOP=1 -q -h "$init_socket" -U "$user" -d postgres \
      -v database="$database" -v owner="$user" <<'SQL'
CREATE DATABASE :"database" OWNER :"owner";
SQL
  fi
  pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  rmdir "$init_socket"
  log "initialized; starting"
fi

exec "$@"
