"""gunicorn settings for the api. gunicorn itself reads PORT, WEB_CONCURRENCY and GUNICORN_CMD_ARGS.

Workers x threads measured with `bench/e2e.py --phases ingest` (bench/RESULTS.md): on 2 cores,
2 x 4 accepted the most uploads/s; 1 x 8 is GIL-bound, 4 x 2 spends the cores on more
processes' overhead (and ~60 MB RSS each). Hence one worker per core, four threads each:
the threads wait on storage, the workers use the cores.
"""

import os

bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))
# Threads let a worker hold a slow upload without blocking quick status requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
