#!/usr/bin/env bash
# The benchmarks, one command each on a clean machine (bench/RESULTS.md has the results):
#   scripts/bench.sh render [bench/render.py arguments]
#   scripts/bench.sh e2e    [bench/e2e.py arguments]      e.g. --jobs 300 --thumbnailers 2
#   scripts/bench.sh load   [bench/load.py arguments]     e.g. --jobs 2000 --concurrency 32
#   scripts/bench.sh cost   [bench/cost.py arguments]     e.g. --imgproxy-url URL, --phases pinned
#   scripts/bench.sh corpus [bench/corpus.py arguments]   make a corpus without ../shared
# Installs the project with its bench extra (pyvips-binary, numpy, psutil, py-spy) into .venv;
# for e2e and load, starts MinIO and ElasticMQ if they are not running, and stops what it started
# (KEEP_SERVICES=1 leaves them running).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:?usage: scripts/bench.sh render|e2e|load|cost|corpus [arguments]}
shift
scripts/venv.sh
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
case "$which" in
  render) exec .venv/bin/python bench/render.py "$@" ;;
  e2e) exec scripts/with-services.sh .venv/bin/python bench/e2e.py "$@" ;;
  load) exec scripts/with-services.sh .venv/bin/python bench/load.py "$@" ;;
  cost) exec .venv/bin/python bench/cost.py "$@" ;;  # starts MinIO and ElasticMQ of its own
  corpus) exec .venv/bin/python bench/corpus.py "$@" ;;
  *) echo "usage: scripts/bench.sh render|e2e|load|cost|corpus [arguments]" >&2; exit 2 ;;
esac
