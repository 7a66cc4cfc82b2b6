# Sourced by scripts/compose-test.sh (which sets DOCKER_HOST, cache, run_dir, mc_bin, log):
# builds the stand-in images named in docker-compose.yaml, each only when its inputs changed.
# See README.md beside this file.

standins=scripts/standins

image_of() {  # image_of SERVICE: the image docker-compose.yaml names for it
  .venv/bin/python -c 'import sys, yaml; print(yaml.safe_load(open("docker-compose.yaml"))["services"][sys.argv[1]]["image"])' "$1"
}

inputs_key() {  # inputs_key DOCKERFILE PARENT_IMAGE PATH...: a hash of everything an image is made of
  local dockerfile=$1 parent=$2; shift 2
  {
    cat "$dockerfile"
    docker image inspect -f '{{.Id}}' "$parent"
    local path
    for path in "$@"; do
      if [ -d "$path" ]; then
        (cd "$path" && find . -type f -printf '%P %s %T@\n' | sort)
      else
        sha256sum <"$path"
      fi
    done
  } | sha256sum | cut -c1-16
}

build_image() {  # build_image TAG DOCKERFILE PARENT CONTEXT KEY
  local tag=$1 dockerfile=$2 parent=$3 context=$4 key=$5
  local t0=$SECONDS
  docker build -q --label "thumbnails.standin=$key" -t "$tag" -f "$dockerfile" "$context" >"$run_dir/build.log" 2>&1 \
    || { log "building $tag failed:"; tail -n 30 "$run_dir/build.log" >&2; return 1; }
  log "$tag: built in $((SECONDS - t0)) s"
}

up_to_date() {  # up_to_date TAG KEY
  [ "$(docker image inspect -f '{{index .Config.Labels "thumbnails.standin"}}' "$1" 2>/dev/null)" = "$2" ] \
    && log "$1: up to date"
}

debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\/debian\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
  echo "${uri:-http://deb.debian.org/debian}"
}

build_debian() {  # localhost/debian:bookworm from debootstrap; once (its contents need no updates here)
  docker image inspect localhost/debian:bookworm >/dev/null 2>&1 && { log "localhost/debian:bookworm: present"; return; }
  local rootfs=$run_dir/rootfs t0=$SECONDS
  rm -rf "$rootfs"
  log "debootstrap bookworm from $(debian_mirror) (about a minute)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$(debian_mirror)" >"$run_dir/debootstrap.log" 2>&1 \
    || { tail -n 20 "$run_dir/debootstrap.log" >&2; return 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - localhost/debian:bookworm >/dev/null
  rm -rf "$rootfs"
  log "localhost/debian:bookworm: imported in $((SECONDS - t0)) s"
}

build_standins() {
  local context key
  build_debian

  # The base: Debian plus this machine's CA certificates (rewritten at boot, so part of the key).
  context=$run_dir/ctx-base
  rm -rf "$context" && mkdir -p "$context/certs"
  cp -p /usr/local/share/ca-certificates/*.crt "$context/certs/" 2>/dev/null || true
  key=$(inputs_key $standins/base.Dockerfile localhost/debian:bookworm "$context/certs")
  up_to_date localhost/thumbnails-base:bookworm "$key" \
    || build_image localhost/thumbnails-base:bookworm $standins/base.Dockerfile localhost/debian:bookworm "$context" "$key"
  rm -rf "$context"

  # python:3.12-slim: the machine's pyenv CPython 3.12 when there is one.
  local python_tag python_prefix
  python_tag=$(.venv/bin/python -c 'import re; print(re.search(r"^FROM (\S+)", open("Dockerfile").read(), re.M).group(1))')
  python_prefix=$(ls -d "$HOME"/.pyenv/versions/3.12.* 2>/dev/null | sort -V | tail -n 1 || true)
  key=$(inputs_key $standins/python.Dockerfile localhost/thumbnails-base:bookworm ${python_prefix:+"$python_prefix/bin"})
  if ! up_to_date "$python_tag" "$key"; then
    context=$run_dir/ctx-python
    rm -rf "$context" && mkdir -p "$context/python"
    if [ -n "$python_prefix" ]; then
      log "python stand-in from $python_prefix"
      tar -C "$python_prefix" -c --exclude='__pycache__' --exclude='lib/python3.12/test' \
          --exclude='lib/python3.12/idlelib' --exclude='lib/python3.12/tkinter' --exclude='lib/python3.12/turtledemo' \
          --exclude='lib/python3.12/site-packages/*' --exclude='lib/python3.12/config-3.12-*' --exclude='*.a' \
          --exclude='bin/idle*' --exclude='bin/2to3*' bin lib include \
        | tar -C "$context/python" -x
    else
      log "no pyenv CPython 3.12 here: Debian's python3 stands in for $python_tag"
    fi
    build_image "$python_tag" $standins/python.Dockerfile localhost/thumbnails-base:bookworm "$context" "$key"
    rm -rf "$context"
  fi

  # MinIO and mc: the binaries scripts/services.sh and compose-test.sh build.
  local minio_version minio_bin elasticmq_version elasticmq_lib
  minio_version=$(sed -n 's/^MINIO_VERSION=\([^ ]*\).*/\1/p' scripts/services.sh)
  minio_bin=$cache/minio-$minio_version/minio
  context=$run_dir/ctx-minio
  key=$(inputs_key $standins/minio.Dockerfile localhost/thumbnails-base:bookworm "$minio_bin" "$mc_bin")
  if ! up_to_date "$(image_of minio)" "$key"; then
    rm -rf "$context" && mkdir -p "$context" && cp -p "$minio_bin" "$mc_bin" "$context/"
    build_image "$(image_of minio)" $standins/minio.Dockerfile localhost/thumbnails-base:bookworm "$context" "$key"
    rm -rf "$context"
  fi
  context=$run_dir/ctx-mc
  key=$(inputs_key $standins/mc.Dockerfile localhost/thumbnails-base:bookworm "$mc_bin")
  if ! up_to_date "$(image_of create-bucket)" "$key"; then
    rm -rf "$context" && mkdir -p "$context" && cp -p "$mc_bin" "$context/"
    build_image "$(image_of create-bucket)" $standins/mc.Dockerfile localhost/thumbnails-base:bookworm "$context" "$key"
    rm -rf "$context"
  fi

  # ElasticMQ: the jars scripts/services.sh fetches, on Debian's JRE.
  elasticmq_version=$(sed -n 's/^ELASTICMQ_VERSION=\([^ ]*\).*/\1/p' scripts/services.sh)
  elasticmq_lib=$cache/elasticmq-$elasticmq_version/lib
  key=$(inputs_key $standins/elasticmq.Dockerfile localhost/thumbnails-base:bookworm "$elasticmq_lib" $standins/elasticmq.conf)
  if ! up_to_date "$(image_of elasticmq)" "$key"; then
    context=$run_dir/ctx-elasticmq
    rm -rf "$context" && mkdir -p "$context" && cp -rp "$elasticmq_lib" "$context/lib" && cp -p $standins/elasticmq.conf "$context/"
    build_image "$(image_of elasticmq)" $standins/elasticmq.Dockerfile localhost/thumbnails-base:bookworm "$context" "$key"
    rm -rf "$context"
  fi

  # PostgreSQL: Debian's postgresql-15 and an entrypoint that initializes PGDATA as the official one does.
  key=$(inputs_key $standins/postgres.Dockerfile localhost/thumbnails-base:bookworm $standins/postgres-entrypoint.sh)
  if ! up_to_date "$(image_of postgres)" "$key"; then
    context=$run_dir/ctx-postgres
    rm -rf "$context" && mkdir -p "$context" && cp -p $standins/postgres-entrypoint.sh "$context/"
    build_image "$(image_of postgres)" $standins/postgres.Dockerfile localhost/thumbnails-base:bookworm "$context" "$key"
    rm -rf "$context"
  fi
}
