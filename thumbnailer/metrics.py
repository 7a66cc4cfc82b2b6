"""Prometheus metrics for a thumbnailer, served on THUMBNAILER_METRICS_PORT when it is set."""

from prometheus_client import Counter, Histogram, start_http_server

JOBS_FINISHED = Counter("thumbnails_jobs_finished_total", "Jobs a thumbnailer finished, by outcome and code.",
                        ["outcome", "code"])
JOBS_RESCUED = Counter("thumbnails_jobs_rescued_total",
                       "Unfinished jobs the reconciler found with no live message: requeued, or failed after "
                       "MAX_RECEIVES rescues.", ["outcome"])
RENDER_SECONDS = Histogram("thumbnails_render_seconds", "Time to render one thumbnail.",
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
JOB_SECONDS = Histogram("thumbnails_job_seconds", "From submission to completion (end to end).",
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


def serve(port: int) -> None:
    if port:
        start_http_server(port)
