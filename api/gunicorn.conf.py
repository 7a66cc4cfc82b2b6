"""gunicorn settings for the api. gunicorn itself reads PORT, WEB_CONCURRENCY and GUNICORN_CMD_ARGS.

One worker process per core. Each runs gevent: a connection is a greenlet, not a thread, so
hundreds of slow or stalled clients (a header line every few seconds, an upload trickling a
byte at a time) wait on their sockets without holding back anyone else's request; gthread
parks one of its few threads on each such client (bench/slow_clients.py; README Security).
gunicorn's gevent worker monkey-patches in each worker before the app, and with it urllib3
and botocore, is imported (api/__main__.py imports neither), so boto3 gets gevent's ssl and
sockets. GUNICORN_WORKER_CLASS=gthread brings back the threaded worker (GUNICORN_THREADS each).
"""

import os
import tempfile

from api import serving
from core.cpus import available_cpus

bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
# One per CPU of the container's quota (cgroup cpu.max), not per core of the host.
workers = int(os.environ.get("WEB_CONCURRENCY") or available_cpus())
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Open connections each worker holds at once (gevent): past this, new ones wait in the backlog.
worker_connections = 1000
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread only
timeout = 60
graceful_timeout = 30
# The request line and headers must arrive within this many seconds (gevent worker: for the
# first request too), else the connection is closed: a client trickling its headers is cut off.
keepalive = 5
# The request line, header count and header size gunicorn accepts (414 / 431 past them).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
serving.install()  # gunicorn's own 400/414/431 answers in JSON
accesslog = "-"
errorlog = "-"
# JSON lines for gunicorn's own logs too (core.logs.JsonFormatter reads the access atoms).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "core.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}

# Metrics from every worker process are summed at /metrics (prometheus_client multiprocess mode).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="thumbnails-metrics-"))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): several
# apis on one host (thumbnails serve, the tests) would fight over it. Older gunicorns ignore this.
control_socket_disable = True
