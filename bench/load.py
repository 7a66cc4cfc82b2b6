#!/usr/bin/env python3
"""Load test: a gunicorn api and several thumbnailers on loopback, many concurrent clients.

Starts the service against the MinIO and ElasticMQ on this machine, with a bucket, queue and
key of its own, submits JOBS images from CONCURRENCY client threads, waits
for every accepted job, downloads and decodes every thumbnail, prints a report, cleans up.
Exit status 0 only if every submission was accepted and every job completed with a valid
thumbnail.

    .venv/bin/python bench/load.py --jobs 2000 --concurrency 32 --thumbnailers 4

The service is bench/stack.py's throwaway stack (localhost.env fills in what the environment
does not set; the endpoints must be loopback).

Latency is submit-to-complete from the job document itself (`finish - start`, both stamped by
the service on this machine), so it does not depend on how often this script polls.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import io
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests
from PIL import Image
from stack import AUTH, Stack

DISTINCT_IMAGES = 8
POLL_PAUSE_SECONDS = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="images to submit (default 2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--thumbnailers", type=int, default=4, help="thumbnailer processes (default 4)")
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--image-side", type=int, default=1024, help="longest side of the JPEGs sent (default 1024)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for all jobs (default 900)")
    return parser.parse_args(argv)


def make_images(side: int) -> list[bytes]:
    """A few distinct photo-like JPEGs (gradients and noise), so output is not all alike."""
    rng = random.Random(7)
    result = []
    for index in range(DISTINCT_IMAGES):
        width, height = side, side * 3 // 4 if index % 2 else side
        ramp = Image.linear_gradient("L").resize((width, height))
        noise = Image.effect_noise((width, height), 40 + index * 5)
        channels = [ramp, noise, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        rng.shuffle(channels)
        buffer = io.BytesIO()
        Image.merge("RGB", channels).save(buffer, "JPEG", quality=85)
        result.append(buffer.getvalue())
    return result


_sessions = threading.local()


def session() -> requests.Session:
    if not hasattr(_sessions, "value"):
        _sessions.value = requests.Session()
    return _sessions.value


def submit(url: str, data: bytes, headers: dict) -> tuple[int, str | None]:
    try:
        response = session().post(f"{url}/jobs", files={"image": ("load.jpg", data, "image/jpeg")},
                                  headers=headers, timeout=60)
    except requests.RequestException as error:
        return 0, type(error).__name__
    return response.status_code, response.json().get("id") if response.status_code == 202 else None


def check(url: str, job_id: str, headers: dict) -> dict | None:
    """The job once terminal, with `valid` telling whether its thumbnail decodes; None while pending."""
    job = session().get(f"{url}/jobs/{job_id}", headers=headers, timeout=60).json()
    if job["status"] not in ("complete", "failed"):
        return None
    job["valid"] = False
    if job["status"] == "complete":
        thumbnail = session().get(job["location"], headers=headers, timeout=60)
        try:
            image = Image.open(io.BytesIO(thumbnail.content))
            image.load()
            job["valid"] = thumbnail.ok and max(image.size) == 100
        except OSError:
            pass
    return job


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def run(args: argparse.Namespace) -> dict:
    images = make_images(args.image_side)
    logs = Path(tempfile.mkdtemp(prefix="thumbnails-load-"))
    with Stack("load", thumbnailers=args.thumbnailers, api_workers=args.api_workers, logs=logs,
               environ={"LOG_LEVEL": "INFO"}) as stack:  # INFO: the log lines counted below
        report = drive(stack, images, args)
        report["processes_alive"] = stack.alive()
        report["duplicate_deliveries_dropped"] = stack.count_in_thumbnailer_logs("job already finished")
        report["write_conflicts"] = stack.count_in_thumbnailer_logs("changed by another thumbnailer")
        report["logs"] = str(logs)
        return report


def drive(stack: Stack, images: list[bytes], args: argparse.Namespace) -> dict:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(lambda n: submit(stack.url, images[n % len(images)], AUTH), range(args.jobs)))
    submit_seconds = time.monotonic() - started
    accepted = [job_id for status, job_id in answers if status == 202 and job_id]
    submit_errors = collections.Counter(str(status) if status else job_id for status, job_id in answers
                                        if status != 202)

    done: dict[str, dict] = {}
    pending = list(accepted)
    deadline = time.monotonic() + args.timeout
    with concurrent.futures.ThreadPoolExecutor(min(8, args.concurrency)) as pool:
        while pending and time.monotonic() < deadline:
            for job_id, job in zip(pending, pool.map(lambda job_id: check(stack.url, job_id, AUTH), pending),
                                   strict=True):
                if job is not None:
                    done[job_id] = job
            pending = [job_id for job_id in pending if job_id not in done]
            if pending:
                time.sleep(POLL_PAUSE_SECONDS)

    complete = [job for job in done.values() if job["status"] == "complete"]
    latencies = [(datetime.fromisoformat(job["finish"]) - datetime.fromisoformat(job["start"])).total_seconds()
                 for job in done.values()]
    times = [datetime.fromisoformat(job[key]) for job in done.values() for key in ("start", "finish")]
    busy_seconds = (max(times) - min(times)).total_seconds() if times else float("nan")
    return {
        "jobs": args.jobs, "concurrency": args.concurrency, "thumbnailers": args.thumbnailers,
        "api_workers": args.api_workers, "image_bytes_mean": round(statistics.mean(map(len, images))),
        "accepted": len(accepted), "submit_errors": dict(submit_errors),
        "completed": len(complete), "failed": len(done) - len(complete), "never_finished": len(pending),
        "invalid_thumbnails": sum(1 for job in complete if not job["valid"]),
        "accepted_per_second": round(len(accepted) / submit_seconds, 1),
        "completed_per_second": round(len(complete) / busy_seconds, 1) if complete else 0.0,
        "latency_seconds": {"p50": round(percentile(latencies, 0.50), 3), "p95": round(percentile(latencies, 0.95), 3),
                            "p99": round(percentile(latencies, 0.99), 3), "max": round(max(latencies, default=0), 3)},
    }


def succeeded(report: dict) -> bool:
    return (report["accepted"] == report["jobs"] == report["completed"] and report["invalid_thumbnails"] == 0
            and report["processes_alive"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    if succeeded(report):
        shutil.rmtree(report.pop("logs"))  # kept, and named in the report, only when something went wrong
    print(json.dumps(report, indent=2))
    return 0 if succeeded(report) else 1


if __name__ == "__main__":
    sys.exit(main())
