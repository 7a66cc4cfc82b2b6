#!/usr/bin/env bash
# Real MinIO and ElasticMQ on loopback, without Docker.
#
#   scripts/services.sh install          build/fetch both into the cache (once; later runs are instant)
#   scripts/services.sh start [minio|elasticmq]
#   scripts/services.sh stop  [minio|elasticmq]
#   scripts/services.sh status
#
# Settings (environment): MINIO_PORT (9000), ELASTICMQ_PORT (9324), ELASTICMQ_HEAP (256m),
# MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (thumbnails / thumbnails-secret, as in localhost.env
# and testing.env), THUMBNAILS_CACHE (~/.cache/thumbnails), SERVICES_DIR (<repo>/.services),
# ELASTICMQ_PERSISTENT (empty; 1 keeps queues and messages in SERVICES_DIR across a stop or a kill:
# every send it answered is there after a restart, see README "Delivery guarantees").
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # github.com/minio/minio, 2026-02-12
ELASTICMQ_VERSION=1.7.1                            # org.elasticmq:elasticmq-server_2.13

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${THUMBNAILS_CACHE:-$HOME/.cache/thumbnails}
run_dir=${SERVICES_DIR:-$root/.services}
minio_port=${MINIO_PORT:-9000}
elasticmq_port=${ELASTICMQ_PORT:-9324}
minio_bin=$cache/minio-$MINIO_VERSION/minio
elasticmq_lib=$cache/elasticmq-$ELASTICMQ_VERSION/lib

export MINIO_ROOT_USER=${MINIO_ROOT_USER:-thumbnails}
export MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-thumbnails-secret}

log() { echo "services: $*" >&2; }

install_minio() {
  [ -x "$minio_bin" ] && return
  command -v go >/dev/null || { log "Go is needed to build MinIO (go install)"; exit 1; }
  log "building MinIO $MINIO_VERSION with go install (a few minutes, once)"
  mkdir -p "$(dirname "$minio_bin")"
  GOBIN=$(dirname "$minio_bin") GOFLAGS=-trimpath go install "github.com/minio/minio@$MINIO_VERSION"
}

install_elasticmq() {
  [ -f "$elasticmq_lib/elasticmq-server_2.13-$ELASTICMQ_VERSION.jar" ] && return
  command -v mvn >/dev/null || { log "Maven is needed to fetch ElasticMQ from Maven Central"; exit 1; }
  log "fetching ElasticMQ $ELASTICMQ_VERSION and its dependencies from Maven Central"
  mvn -q -B --no-transfer-progress -Dstyle.color=never -f "$root/scripts/elasticmq/pom.xml" dependency:copy-dependencies \
    -Delasticmq.version="$ELASTICMQ_VERSION" -DoutputDirectory="$elasticmq_lib"
}

minio_up() { curl -sf "http://127.0.0.1:$minio_port/minio/health/live" >/dev/null 2>&1; }
elasticmq_up() { curl -sf "http://127.0.0.1:$elasticmq_port/?Action=ListQueues" >/dev/null 2>&1; }

wait_until() {  # wait_until NAME CHECK
  for _ in $(seq 1 120); do
    "$2" && { log "$1 is up"; return 0; }
    sleep 0.5
  done
  log "$1 did not come up; its log:"; tail -n 30 "$run_dir/$1.log" >&2 || true
  return 1
}

daemon() {  # daemon NAME COMMAND...: detached from the terminal, its own pid in NAME.pid
  local name=$1; shift
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$run_dir/$name.pid" "$@" >>"$run_dir/$name.log" 2>&1 </dev/null &
}

start_minio() {
  minio_up && { log "minio already answers on $minio_port"; return; }
  install_minio
  mkdir -p "$run_dir/minio-data"
  daemon minio "$minio_bin" server "$run_dir/minio-data" --quiet \
    --address "127.0.0.1:$minio_port" --console-address "127.0.0.1:$((minio_port + 1))"
  wait_until minio minio_up
}

start_elasticmq() {
  elasticmq_up && { log "elasticmq already answers on $elasticmq_port"; return; }
  install_elasticmq
  mkdir -p "$run_dir"
  cat >"$run_dir/elasticmq.conf" <<CONF
include classpath("application.conf")
node-address { protocol = http, host = 127.0.0.1, port = $elasticmq_port, context-path = "" }
rest-sqs { enabled = true, bind-port = $elasticmq_port, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false }
CONF
  if [ -n "${ELASTICMQ_PERSISTENT:-}" ]; then
    # In memory by default, ElasticMQ forgets every queue and message when it stops. In H2:
    # DB_CLOSE_ON_EXIT=FALSE, or H2 closes the database at SIGTERM while ElasticMQ goes on
    # answering sends for seconds (lost); WRITE_DELAY=0, so each commit reaches the file at once.
    cat >>"$run_dir/elasticmq.conf" <<CONF
queues-storage { enabled = true, path = "$run_dir/elasticmq-queues.conf" }
messages-storage { enabled = true, uri = "jdbc:h2:$run_dir/elasticmq-h2;DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0" }
CONF
  fi
  # An explicit heap: the original design's ElasticMQ ran out of the JVM default under load.
  daemon elasticmq java "-Xmx${ELASTICMQ_HEAP:-256m}" -XX:+ExitOnOutOfMemoryError \
    -Dconfig.file="$run_dir/elasticmq.conf" -cp "$elasticmq_lib/*" org.elasticmq.server.Main
  wait_until elasticmq elasticmq_up
}

stop_one() {
  local pid_file=$run_dir/$1.pid
  [ -f "$pid_file" ] || return 0
  local pid; pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    # Up to 30 s to shut down cleanly (a loaded JVM can take over 10); SIGKILL only after that.
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    log "$1 stopped"
  fi
  rm -f "$pid_file"
}

services=${2:-minio elasticmq}
case ${1:-} in
  install) install_minio; install_elasticmq ;;
  start) for s in $services; do "start_$s"; done ;;
  stop) for s in $services; do stop_one "$s"; done ;;
  status)
    minio_up && echo "minio: up on $minio_port" || echo "minio: down"
    elasticmq_up && echo "elasticmq: up on $elasticmq_port" || echo "elasticmq: down" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
