"""Submissions and renders in flight while MinIO and then ElasticMQ are stopped and started
again, on a real gunicorn api and real thumbnailers (servers of the run's own, tests/dedicated.py);
then every accepted job is followed to its end and counted.

Shared by tests/test_fault_counts.py (small, for CI) and bench/faults.py (bigger, repeated).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import boto3
import botocore.config
import requests
from dotenv import dotenv_values

from core.job import Job
from core.keys import new_key
from processes import waiting
from storage.jobstore import DocumentJobStore, JobStore
from storage.objects.s3 import S3ObjectStore
from tests import images, processes
from tests.dedicated import DedicatedServers

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "thumbnails-faults"
QUEUE = "thumbnails-faults"
# Short enough that a job whose message was lost ends within the run; long enough that a job
# waiting in the queue or held through an outage is not rescued (README, "Delivery guarantees").
RECONCILE_AFTER_SECONDS = 20
RECONCILE_INTERVAL_SECONDS = 3
OUTAGE_SECONDS = 4
RETRY_503_SECONDS = 0.5
SUBMIT_PAUSE_SECONDS = 0.05
STRANDED_JOBS = 2
API_WORKERS = 2
OWNER = "faults"


@dataclasses.dataclass
class Tally:
    """What one run counted. lost and server_errors must be 0."""

    accepted: int = 0
    refused_503: int = 0
    server_errors: int = 0  # 500s (and anything else 5xx but 503)
    other: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    complete: int = 0
    failed: int = 0
    lost: int = 0  # accepted, and not finished by the deadline
    duplicate_renders: int = 0  # renders by a second delivery of a job (at-least-once), over all jobs
    repeated_renders: int = 0  # renders repeated within one delivery, after a write failed in an outage
    connection_errors: int = 0  # submissions whose connection to the api broke (retried, as a client would)
    api_workers_replaced: int = 0  # gunicorn workers booted beyond the first ones: a crash if not 0
    rescued: int = 0  # jobs the reconciler sent again
    stranded: int = 0  # jobs written with no message sent (an api killed mid-submit), not counted above
    stranded_complete: int = 0  # of those, the ones the reconciler got done
    unknown_sends: int = 0  # sends with no answer, answered 202
    seconds_to_finish: float = 0.0  # from ElasticMQ's restart to the last job's end
    lost_ids: list = dataclasses.field(default_factory=list)

    def row(self) -> str:
        return (f"| {self.accepted} | {self.refused_503} | {self.server_errors} | {self.connection_errors} "
                f"| {self.complete} | {self.failed} | {self.lost} | {self.duplicate_renders} | {self.repeated_renders} "
                f"| {self.rescued} | {self.unknown_sends} "
                f"| {self.stranded_complete}/{self.stranded} | {self.seconds_to_finish:.1f} |")

    HEADER = ("| accepted | 503 | 500 | connection errors | complete | failed | lost | renders by a 2nd delivery "
              "| renders repeated after a failed write | rescued | sends unanswered | stranded jobs done "
              "| s from the last restart to the last job's end |"
              "\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")


class Stack:
    """Dedicated MinIO + ElasticMQ, a gunicorn api and thumbnailer processes, all on free ports."""

    def __init__(self, workdir: Path, thumbnailers: int):
        self.workdir = workdir
        self.servers = DedicatedServers(workdir / "services")
        self.key, record = new_key(OWNER)
        testing = {key: value for key, value in dotenv_values(ROOT / "testing.env").items() if value is not None}
        self.env = {**os.environ, **testing, **self.servers.endpoints, "STORAGE_URL": f"s3://{BUCKET}",
                    "QUEUE_URL": f"sqs://{QUEUE}", "API_KEYS": record.line(), "WEB_CONCURRENCY": str(API_WORKERS),
                    "THUMBNAILER_PROCESSES": "1", "RECONCILE_AFTER_SECONDS": str(RECONCILE_AFTER_SECONDS),
                    "RECONCILE_INTERVAL_SECONDS": str(RECONCILE_INTERVAL_SECONDS)}
        self.thumbnailer_count = thumbnailers
        self.port = processes.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list = []
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.key}"

    def __enter__(self) -> Stack:
        (self.workdir / "services").mkdir(parents=True, exist_ok=True)
        try:
            self.servers.start()
            self.processes.append(processes.start_api(self.env, self.port, self.workdir / "api.log"))
            self.processes += [processes.start_thumbnailer(self.env, self.workdir / f"thumbnailer-{n}.log")
                               for n in range(self.thumbnailer_count)]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        processes.stop(*self.processes)
        self.servers.stop()

    def jobs(self) -> JobStore:
        client = boto3.session.Session().client(
            "s3", endpoint_url=self.servers.endpoints["AWS_ENDPOINT_URL_S3"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        return DocumentJobStore(S3ObjectStore(client, BUCKET))

    def log_events(self, pattern: str) -> list[dict]:
        events = []
        for path in sorted(self.workdir.glob(pattern)):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        continue
        return events

    def all_running(self) -> bool:
        return all(process.poll() is None for process in self.processes)


class Senders:
    """Threads submitting images until `jobs` are accepted, retrying 503s as a client would."""

    def __init__(self, stack: Stack, jobs: int, threads: int, tally: Tally):
        self.stack, self.jobs, self.tally = stack, jobs, tally
        self.accepted: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(threads)]
        self.image = images.jpeg()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _more_wanted(self) -> bool:
        with self._lock:
            return len(self.accepted) < self.jobs

    def _send(self) -> None:
        while self._more_wanted():
            try:
                response = self.stack.http.post(f"{self.stack.url}/jobs", files={"image": ("photo.jpg", self.image)},
                                                timeout=120)
            except requests.RequestException as error:
                with self._lock:
                    self.tally.connection_errors += 1
                    self.tally.other[f"{type(error).__name__}: {str(error)[:160]}"] += 1
                time.sleep(RETRY_503_SECONDS)
                continue
            with self._lock:
                if response.status_code == 202:
                    self.accepted.append(response.json()["id"])
                    self.tally.accepted += 1
                elif response.status_code == 503:
                    self.tally.refused_503 += 1
                elif response.status_code >= 500:
                    self.tally.server_errors += 1
                else:
                    self.tally.other[str(response.status_code)] += 1
            time.sleep(RETRY_503_SECONDS if response.status_code == 503 else SUBMIT_PAUSE_SECONDS)


def wait_until(condition, timeout: float) -> None:
    """Wait for the condition, but go on after the timeout: the counts say what did not happen."""
    with contextlib.suppress(TimeoutError):
        waiting.wait_until(condition, timeout)


def strand(store: JobStore) -> str:
    """A job as an api leaves it when killed between writing the job and sending its id."""
    job = Job(owner=OWNER)
    store.save_input(job.id, images.jpeg(), "image/jpeg")
    store.save(job)
    return job.id


def run(workdir: Path, jobs: int = 30, senders: int = 3, thumbnailers: int = 2,
        outage_seconds: float = OUTAGE_SECONDS, finish_timeout: float = 180) -> Tally:
    """One run: MinIO stopped once a third of the jobs are accepted, ElasticMQ once two thirds
    are; each down for outage_seconds (plus its restart). Returns the counts."""
    tally = Tally()
    workdir.mkdir(parents=True, exist_ok=True)
    with Stack(workdir, thumbnailers) as stack:
        store = stack.jobs()
        stranded = [strand(store) for _ in range(STRANDED_JOBS)]
        tally.stranded = len(stranded)
        sending = Senders(stack, jobs, senders, tally)
        sending.start()
        for name, share in (("minio", 1 / 3), ("elasticmq", 2 / 3)):
            wait_until(lambda share=share: len(sending.accepted) >= jobs * share, timeout=120)
            stack.servers.stop(name)
            time.sleep(outage_seconds)  # sends and renders keep trying meanwhile
            stack.servers.start(name)
        outages_over = time.monotonic()
        sending.join(timeout=300)
        pending = set(sending.accepted) | set(stranded)

        def all_finished() -> bool:
            for job_id in list(pending):
                try:
                    job = store.load(job_id)
                except Exception:  # noqa: BLE001 - a storage hiccup: look again
                    return False
                if job.status.is_terminal:
                    pending.discard(job_id)
                    if job_id in stranded:
                        tally.stranded_complete += job.status.value == "complete"
                        continue
                    tally.complete += job.status.value == "complete"
                    tally.failed += job.status.value != "complete"
            return not pending

        wait_until(all_finished, finish_timeout)
        tally.seconds_to_finish = time.monotonic() - outages_over
        tally.lost, tally.lost_ids = len(pending), sorted(pending)
        renders: collections.Counter = collections.Counter()  # job -> renders
        deliveries = collections.defaultdict(set)  # job -> (process log, receive count, rescues) that rendered it
        for path in sorted(workdir.glob("thumbnailer-*.log")):
            for event in stack.log_events(path.name):
                if event.get("message") == "rendering" and event.get("job_id") in sending.accepted:
                    renders[event["job_id"]] += 1
                    deliveries[event["job_id"]].add((path.name, event.get("receive_count"), event.get("rescues")))
        tally.duplicate_renders = sum(len(seen) - 1 for seen in deliveries.values())
        tally.repeated_renders = sum(renders[job_id] - len(seen) for job_id, seen in deliveries.items())
        tally.rescued = sum(1 for event in stack.log_events("thumbnailer-*.log")
                            if event.get("message") == "job requeued by the reconciler")
        tally.unknown_sends = sum(1 for event in stack.log_events("api.log")
                                  if event.get("message") == "job queued, outcome unknown")
        api_errors = [event for event in stack.log_events("api.log") if event.get("status", 0) >= 500
                      and event.get("status") != 503]
        tally.server_errors = max(tally.server_errors, len(api_errors))
        booted = sum(1 for event in stack.log_events("api.log")
                     if event.get("message", "").startswith("Booting worker"))
        tally.api_workers_replaced = max(0, booted - API_WORKERS)
        if not stack.all_running():
            tally.other["a process died"] += 1
    return tally
