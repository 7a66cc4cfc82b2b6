#!/usr/bin/env bash
# Tools the tests use beyond Python packages, built once into the cache (later runs are instant):
#   helm (tests/test_deploy.py: helm lint and helm template of deploy/helm/thumbnails), from the
#   Go module proxy with `go install` (a few minutes the first time on 2 cores).
# Prints nothing when everything is there. THUMBNAILS_CACHE (~/.cache/thumbnails) as services.sh.
set -euo pipefail

HELM_VERSION=v3.19.0                               # helm.sh/helm/v3

cache=${THUMBNAILS_CACHE:-$HOME/.cache/thumbnails}
helm_bin=$cache/helm-$HELM_VERSION/helm

if [ ! -x "$helm_bin" ]; then
  command -v go >/dev/null || { echo "tools: Go is needed to build helm (go install)" >&2; exit 1; }
  echo "tools: building helm $HELM_VERSION with go install (a few minutes, once)" >&2
  mkdir -p "$(dirname "$helm_bin")"
  GOBIN=$(dirname "$helm_bin") GOFLAGS=-trimpath go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
