"""gunicorn settings for the api. gunicorn itself reads PORT, WEB_CONCURRENCY and GUNICORN_CMD_ARGS."""

import os

bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let a worker hold a slow upload without blocking quick status requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
# gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): several
# apis on one host (thumbnails serve, the tests) would fight over it. Older gunicorns ignore this.
control_socket_disable = True
