#!/usr/bin/env bash
# Run the whole service on this machine: MinIO + ElasticMQ (natively, no Docker), the api on
# http://127.0.0.1:8000 under gunicorn, and one thumbnailer. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
scripts/services.sh start
set -a; . ./localhost.env; set +a
trap 'kill $(jobs -p) 2>/dev/null; wait; scripts/services.sh stop' EXIT INT TERM
.venv/bin/thumbnailer &
.venv/bin/thumbnails-api --bind "127.0.0.1:${PORT:-8000}" &
echo "api on http://127.0.0.1:${PORT:-8000}   try: curl -F image=@photo.jpg http://127.0.0.1:${PORT:-8000}/jobs"
wait
