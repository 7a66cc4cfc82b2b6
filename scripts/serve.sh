#!/usr/bin/env bash
# Run the whole service on this machine in one command: creates .venv and installs the project,
# then `thumbnails serve` (the api on http://127.0.0.1:8000 and two thumbnailers). With no
# STORAGE_URL / QUEUE_URL set it runs on the embedded backends under ./data: no Docker, no
# MinIO, no ElasticMQ. Point the environment at S3/SQS to use those instead, e.g.
#   scripts/services.sh start; set -a; . ./localhost.env; set +a; scripts/serve.sh
# Arguments go to `thumbnails serve` (--port, --thumbnailers, --host). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/thumbnails serve "$@"
