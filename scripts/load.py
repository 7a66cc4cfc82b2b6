#!/usr/bin/env python3
"""Load test: a gunicorn api and several thumbnailers on loopback, many concurrent clients.

Starts the service against the MinIO and ElasticMQ named by the environment (loopback only),
with a bucket and queue of its own, submits JOBS images from CONCURRENCY client threads, waits
for every accepted job, downloads and decodes every thumbnail, prints a report, cleans up.
Exit status 0 only if every submission was accepted and every job completed with a valid
thumbnail.

    set -a; . ./localhost.env; set +a
    .venv/bin/python scripts/load.py --jobs 2000 --concurrency 32 --thumbnailers 4

Latency is submit-to-complete from the job document itself (`finish - start`, both stamped by
the service on this machine), so it does not depend on how often this script polls.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import io
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import requests
from PIL import Image

import storage
from api.keys import new_key
from storage.objects.s3 import S3ObjectStore
from storage.queues.sqs import SqsQueue

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
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


def require_loopback(environ) -> None:
    """This script generates a lot of traffic: never point it at anything but this machine."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        host = urlparse(environ.get(name, "")).hostname
        if host not in LOOPBACK:
            sys.exit(f"load.py: {name} must point at 127.0.0.1 (it is {environ.get(name)!r})")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """The api and thumbnailer processes, with their logs in a temporary folder."""

    def __init__(self, env: dict, thumbnailers: int, logs: Path):
        key, record = new_key("load")  # a key of its own for this run's api
        env = dict(env, API_KEYS=record.line())
        self.headers = {"Authorization": f"Bearer {key}"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.processes = [self._spawn(["-m", "api", "--bind", f"127.0.0.1:{self.port}"], env, "api")]
        self.processes += [self._spawn(["-m", "thumbnailer"], env, f"thumbnailer-{n}") for n in range(thumbnailers)]

    def _spawn(self, args: list[str], env: dict, name: str) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as log:
            return subprocess.Popen([sys.executable, *args], env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening, or still booting
                pass
            time.sleep(0.2)
        raise SystemExit(f"load.py: the api did not become ready; see {self.logs}")

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def count_in_thumbnailer_logs(self, text: str) -> int:
        return sum(path.read_text().count(text) for path in self.logs.glob("thumbnailer-*.log"))


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


def run(args: argparse.Namespace, environ: dict) -> dict:
    name = f"thumbnails-load-{time.strftime('%Y%m%dt%H%M%S')}-{secrets.token_hex(2)}"
    env = dict(environ, STORAGE_URL=f"s3://{name}", QUEUE_URL=f"sqs://{name}", WEB_CONCURRENCY=str(args.api_workers))
    settings = storage.Settings.from_env(env)
    backends = storage.connect(settings)
    backends.ensure()
    images = make_images(args.image_side)
    logs = Path(tempfile.mkdtemp(prefix="thumbnails-load-"))
    service = Service(env, args.thumbnailers, logs)
    try:
        service.wait_until_ready()
        report = drive(service, images, args)
        report["processes_alive"] = service.alive()
        report["duplicate_deliveries_dropped"] = service.count_in_thumbnailer_logs("job already finished")
        report["write_conflicts"] = service.count_in_thumbnailer_logs("changed by another thumbnailer")
        report["logs"] = str(logs)
        return report
    finally:
        service.stop()
        assert isinstance(backends.queue, SqsQueue) and isinstance(backends.objects, S3ObjectStore)
        backends.queue.delete_queue()
        backends.objects.delete_bucket()


def drive(service: Service, images: list[bytes], args: argparse.Namespace) -> dict:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        answers = list(pool.map(lambda n: submit(service.url, images[n % len(images)], service.headers), range(args.jobs)))
    submit_seconds = time.monotonic() - started
    accepted = [job_id for status, job_id in answers if status == 202]
    submit_errors = collections.Counter(str(status) if status else job_id for status, job_id in answers
                                        if status != 202)

    done: dict[str, dict] = {}
    pending = list(accepted)
    deadline = time.monotonic() + args.timeout
    with concurrent.futures.ThreadPoolExecutor(min(8, args.concurrency)) as pool:
        while pending and time.monotonic() < deadline:
            for job_id, job in zip(pending, pool.map(lambda job_id: check(service.url, job_id, service.headers), pending)):
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
    require_loopback(os.environ)
    report = run(args, dict(os.environ))
    if succeeded(report):
        shutil.rmtree(report.pop("logs"))  # kept, and named in the report, only when something went wrong
    print(json.dumps(report, indent=2))
    return 0 if succeeded(report) else 1


if __name__ == "__main__":
    sys.exit(main())
