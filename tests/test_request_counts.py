"""What one job costs in S3 and SQS requests, the unit AWS bills by: the real api (gunicorn) and
a real thumbnailer on MinIO/ElasticMQ, counted by `thumbnails_storage_requests_total` on both.

The thumbnailer is frozen (SIGSTOP) while the jobs are submitted, so its idle polls of an empty
queue do not blur the count: what is counted is submit -> render -> complete, N times over.
Every operation is listed: a request added anywhere on the way makes this test fail.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import pytest
import requests

import core
import storage
from processes.waiting import wait_until
from storage.waiting import DEPTH_READ_SECONDS
from tests import images
from tests.environment import ALICE, RUN_ID
from tests.processes import free_port, start_api, start_thumbnailer, stop, wait_until_up

JOBS = 20
# The targets for a successful single-output job on the default path (issue 18).
MAX_S3_PER_JOB = 5
MAX_SQS_PER_JOB = 3
QUEUES = 3  # normal, high and low
# Receives that found nothing: the idle polls (three queues) between the last job and the scrape.
IDLE_RECEIVES = 6
SAMPLE = re.compile(r'^thumbnails_storage_requests_total\{operation="(\w+)",service="(\w+)"\} (\S+)$', re.M)
SAMPLE_OTHER_ORDER = re.compile(r'^thumbnails_storage_requests_total\{service="(\w+)",operation="(\w+)"\} (\S+)$',
                                re.M)
FINISHED = re.compile(r'^thumbnails_jobs_finished_total\{[^}]*outcome="complete"[^}]*\} (\S+)$', re.M)


def request_counts(metrics_url: str) -> Counter:
    text = requests.get(metrics_url, timeout=10).text
    counts: Counter = Counter()
    for operation, service, value in SAMPLE.findall(text):
        counts[f"{service}:{operation}"] += int(float(value))
    for service, operation, value in SAMPLE_OTHER_ORDER.findall(text):
        counts[f"{service}:{operation}"] += int(float(value))
    return counts


def completed(metrics_url: str) -> int:
    return int(sum(float(value) for value in FINISHED.findall(requests.get(metrics_url, timeout=10).text)))


@pytest.fixture
def service(bucket_name, tmp_path):
    """One api process and one thumbnailer process, each with a metrics endpoint, on their own queues."""
    port, metrics_port = free_port(), free_port()
    queue = f"{RUN_ID}-counts-{os.getpid()}"
    env = dict(os.environ, STORAGE_URL=f"s3://{bucket_name}", QUEUE_URL=f"sqs://{queue}", PORT=str(port),
               WEB_CONCURRENCY="1", THUMBNAILER_PROCESSES="1", THUMBNAILER_METRICS_PORT=str(metrics_port),
               PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("JOBS_URL", None)  # the default on S3: job documents beside the data
    api = start_api(env, port, tmp_path / "api.log")
    thumbnailer = start_thumbnailer(env, tmp_path / "thumbnailer.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/readyz", api)
        wait_until(lambda: _answers(f"http://127.0.0.1:{metrics_port}/metrics"), 30,
                   description="the thumbnailer's metrics")
        yield {"url": base, "api": f"{base}/metrics", "thumbnailer": f"http://127.0.0.1:{metrics_port}/metrics",
               "process": thumbnailer}
    finally:
        stop(thumbnailer, api)
        for made in storage.connect(core.Settings.from_env(env)).queues:
            made.delete_queue()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def test_a_job_costs_at_most_5_s3_and_3_sqs_requests(service):
    photo = images.jpeg(640, 480)
    wait_until(lambda: "sqs:ReceiveMessage" in request_counts(service["thumbnailer"]), 30,
               description="the thumbnailer polling")
    api_before = request_counts(service["api"])
    thumbnailer_before = request_counts(service["thumbnailer"])
    os.kill(service["process"].pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        for _ in range(JOBS):
            answer = requests.post(f"{service['url']}/jobs", files={"image": ("photo.jpg", photo)}, headers=ALICE,
                                   timeout=30)
            assert answer.status_code == 202, answer.text
    finally:
        os.kill(service["process"].pid, signal.SIGCONT)
    submitting = time.monotonic() - started
    wait_until(lambda: completed(service["thumbnailer"]) >= JOBS, 60, description=f"{JOBS} jobs to complete")
    api = request_counts(service["api"]) - api_before
    thumbnailer = request_counts(service["thumbnailer"]) - thumbnailer_before
    # The api's /metrics reads the queue depth (GetQueueAttributes, one per queue) after its
    # counters are written out: the first scrape's reads show in the second. Not a job's cost.
    api["sqs:GetQueueAttributes"] -= QUEUES
    api, thumbnailer = +api, +thumbnailer  # drop the zeros
    print("per job: api", {name: count / JOBS for name, count in api.items()},
          "thumbnailer", {name: count / JOBS for name, count in thumbnailer.items()})

    # The api: the input and the job document, one send with the document beside the id, and
    # the queues' depth (for the waiting cap) read once every few seconds, not per job.
    depth_reads = QUEUES * (1 + int(submitting // DEPTH_READ_SECONDS))
    assert set(api) <= {"s3:PutObject", "sqs:SendMessage", "sqs:GetQueueAttributes"}, dict(api)
    assert (api["s3:PutObject"], api["sqs:SendMessage"]) == (2 * JOBS, JOBS), dict(api)
    assert api["sqs:GetQueueAttributes"] <= depth_reads, dict(api)
    # The thumbnailer: the input, the thumbnail and the `complete` job; no read of the job
    # document and no `processing` write on a first delivery; receives and deletes in batches.
    assert set(thumbnailer) <= {"s3:GetObject", "s3:PutObject", "sqs:ReceiveMessage",
                                "sqs:DeleteMessageBatch"}, dict(thumbnailer)
    assert (thumbnailer["s3:GetObject"], thumbnailer["s3:PutObject"]) == (JOBS, 2 * JOBS), dict(thumbnailer)
    assert thumbnailer["sqs:DeleteMessageBatch"] <= JOBS // 2, dict(thumbnailer)
    assert thumbnailer["sqs:ReceiveMessage"] <= JOBS + IDLE_RECEIVES, dict(thumbnailer)

    both = api + thumbnailer
    s3 = sum(count for name, count in both.items() if name.startswith("s3:"))
    sqs = sum(count for name, count in both.items() if name.startswith("sqs:"))
    assert s3 <= MAX_S3_PER_JOB * JOBS, (s3 / JOBS, dict(both))
    assert sqs <= MAX_SQS_PER_JOB * JOBS, (sqs / JOBS, dict(both))
