"""Prometheus metrics for the api: GET /metrics, summed over gunicorn's worker processes."""

from __future__ import annotations

import os

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

import core
import storage
from api.context import backends
from api.history import JobGauges

JOBS_ACCEPTED = Counter("thumbnails_jobs_accepted_total", "Jobs accepted by the api.")
JOBS_REFUSED = Counter("thumbnails_uploads_refused_total", "Uploads refused, by HTTP status.", ["code"])
JOBS_CANCELLED = Counter("thumbnails_jobs_cancelled_total", "Jobs cancelled or deleted by their owner, by the "
                         "status they had.", ["previous_status"])
UPLOAD_BYTES = Histogram("thumbnails_upload_bytes", "Size of accepted uploads in bytes.",
                         buckets=(16e3, 64e3, 256e3, 1e6, 4e6, 16e6, 64e6))

blueprint = Blueprint("metrics", __name__)


class QueueDepth:
    """Read at scrape time: messages waiting and messages being worked on."""

    def __init__(self, queue: storage.Queue):
        self.queue = queue

    def collect(self):
        try:
            waiting, in_flight = self.queue.approximate_depth()
        except core.ThumbnailsError:
            return
        family = GaugeMetricFamily("thumbnails_queue_depth", "Approximate messages in the queue.", labels=["state"])
        family.add_metric(["waiting"], waiting)
        family.add_metric(["in_flight"], in_flight)
        yield family


@blueprint.get("/metrics")
def metrics():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    queue_registry = CollectorRegistry()
    queue_registry.register(QueueDepth(backends().inbox))  # all priorities together
    queue_registry.register(JobGauges(backends().jobs))
    return Response(generate_latest(registry) + generate_latest(queue_registry), content_type=CONTENT_TYPE_LATEST)
