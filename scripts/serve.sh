#!/usr/bin/env bash
# Run the whole service on this machine: MinIO + ElasticMQ (natively, no Docker), the api on
# http://127.0.0.1:8000 under gunicorn, and one thumbnailer. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
scripts/services.sh start
set -a; . ./localhost.env; set +a
export API_KEYS_FILE=${API_KEYS_FILE:-$PWD/.services/api-keys}
if [ ! -s "$API_KEYS_FILE" ]; then
  key=$(.venv/bin/thumbnails-keys create local --file "$API_KEYS_FILE" 2>/dev/null)
  echo "made an API key for owner 'local' (shown once): $key"
  echo "  export THUMBNAILS_KEY=$key"
fi
trap 'kill $(jobs -p) 2>/dev/null; wait; scripts/services.sh stop' EXIT INT TERM
.venv/bin/thumbnailer &
.venv/bin/thumbnails-api --bind "127.0.0.1:${PORT:-8000}" &
echo "api on http://127.0.0.1:${PORT:-8000}   try: curl -H \"Authorization: Bearer \$THUMBNAILS_KEY\" -F image=@photo.jpg http://127.0.0.1:${PORT:-8000}/jobs"
wait
