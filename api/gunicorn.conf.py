"""gunicorn settings for the api. gunicorn itself reads PORT, WEB_CONCURRENCY and GUNICORN_CMD_ARGS.

Workers x threads measured with `bench/e2e.py --phases ingest` (bench/RESULTS.md): on 2 cores,
2 x 4 accepted the most uploads/s; 1 x 8 is GIL-bound, 4 x 2 spends the cores on more
processes' overhead (and ~60 MB RSS each). Hence one worker per core, four threads each:
the threads wait on storage, the workers use the cores.
"""

import os
import tempfile

from storage.cpus import available_cpus

bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
# One per CPU of the container's quota (cgroup cpu.max), not per core of the host.
workers = int(os.environ.get("WEB_CONCURRENCY") or available_cpus())
# Threads let a worker hold a slow upload without blocking quick status requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
# JSON lines for gunicorn's own logs too (storage.logs.JsonFormatter reads the access atoms).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "storage.logs.JsonFormatter"}},
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
