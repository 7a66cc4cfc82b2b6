#!/usr/bin/env python3
"""Cost per job: where the CPU goes, how many S3/SQS requests a job makes and what a million
jobs cost in requests at AWS's prices, side by side with imgproxy; and the pinned-core figure.

    .venv/bin/python bench/cost.py                                  # cost, both backends
    .venv/bin/python bench/cost.py --imgproxy-url http://127.0.0.1:32080   # and imgproxy beside
    .venv/bin/python bench/cost.py --phases pinned --jobs 300       # thumbnailer alone on core 1

Phases (--phases):
  cost     per input and backend (--backends embedded,servers), a throughput run like
           bench/e2e.py's (M jobs from C clients, N thumbnailers, api with 2 gevent workers,
           as `thumbnails serve -w N`): completed/s, and CPU ms per job by component (api,
           thumbnailers, the render within them, object store and queue servers, the clients).
           Render CPU is measured by render-only processes on the same image right after (CPU
           time per render); the thumbnailers' histogram thumbnails_render_seconds is shown
           beside it (wall time, so it includes waiting for a core). Requests per job by
           operation from thumbnails_storage_requests_total on the api's /metrics and the
           thumbnailers' THUMBNAILER_METRICS_PORT, read before and after (the scrape's own queue
           depth requests subtracted), and their price per million jobs.
  imgproxy with --imgproxy-url: before our runs of each input, the same image as a 100x100 q85
           thumbnail from imgproxy (IMGPROXY_LOCAL_FILESYSTEM_ROOT = the corpus), C clients,
           no result cache: requests/s and, if its process is on this machine, CPU ms per
           request. Ratios: our completed/s ÷ imgproxy's requests/s.
  queue    ElasticMQ's CPU per request in rounds (send, receive, delete), on a fresh private
           server and on the shared one: its JIT warm-up, and other users' load on the shared;
           then, on the private one, its CPU while idle and per empty receive.
  pinned   MinIO, ElasticMQ, the api and this process on core 0 (taskset), one thumbnailer
           process on core 1; the thumbnailer is stopped (SIGSTOP) while M jobs are queued,
           then the clock starts and it is continued: drained jobs/s ÷ render-only/s of one
           process on core 1, and the CPU per job outside rendering ÷ render CPU. Where others
           share core 1 (this machine), the wall-clock ratio is noise; render CPU ÷ the
           thumbnailer's CPU per job is what it would be on a core of its own with no waiting,
           and "core 1 busy" says how much of the drain the thumbnailer was on the CPU.

MinIO and ElasticMQ are the benchmark's own (scripts/services.sh on free ports, data in a
temporary folder, stopped afterwards), so their CPU is this run's alone; --shared-servers uses
the running ones (localhost.env) instead, whose CPU includes anyone else's load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import psutil
import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from e2e import INPUTS, finish_times, render_only, submit_all, wait_complete  # noqa: E402
from stack import CpuMeter, PrivateServers, Stack, cpu_seconds, session, shared_servers  # noqa: E402

from processes.ports import free_port  # noqa: E402
from processes.waiting import wait_for_http  # noqa: E402

# AWS's published request prices (us-east-1, read 2026-11): https://aws.amazon.com/s3/pricing/
# (Requests & data retrievals, S3 Standard) and https://aws.amazon.com/sqs/pricing/ (standard
# queue, after the first million a month free; each 64 KB chunk of a payload is one request).
S3_PRICING_URL = "https://aws.amazon.com/s3/pricing/"
SQS_PRICING_URL = "https://aws.amazon.com/sqs/pricing/"
S3_PUT_TIER_USD_PER_1000 = 0.005  # PUT, COPY, POST, LIST
S3_GET_TIER_USD_PER_1000 = 0.0004  # GET, SELECT and all other requests
S3_FREE_OPERATIONS = {"DeleteObject", "DeleteObjects"}  # "DELETE and CANCEL requests are free"
S3_PUT_TIER = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload",
               "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "CreateBucket",
               "PutBucketLifecycleConfiguration"}
SQS_USD_PER_MILLION = 0.40
SQS_CHUNK_BYTES = 64 * 1024  # our messages are far smaller: one request each
JOBS_PRICED = 1_000_000
REQUESTS_METRIC = "thumbnails_storage_requests_total"
RENDER_METRIC = "thumbnails_render_seconds"
IMGPROXY_OPTIONS = "rs:fit:100:100/q:85"
RENDER_SECONDS = 6.0
IDLE_SECONDS = 10.0
PIN_SERVICES, PIN_THUMBNAILER = "0", "1"


def scrape(url: str, http: requests.Session) -> dict[str, float]:
    """The samples this benchmark reads, by 'name{label,...}'."""
    text = http.get(url, timeout=30).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUESTS_METRIC:
                key = f"{sample.labels['service']}:{sample.labels['operation']}"
                values[key] = values.get(key, 0.0) + sample.value
            elif sample.name in (f"{RENDER_METRIC}_sum", f"{RENDER_METRIC}_count"):
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] - before.get(key, 0.0)}


class Counters:
    """The api's and the thumbnailers' metrics around a run; the api's /metrics asks the queue
    for its depth, so one scrape's own requests are measured and taken off."""

    def __init__(self, stack: Stack, metrics_port: int):
        self.http = session()
        self.urls = {"api": f"{stack.url}/metrics", "thumbnailers": f"http://127.0.0.1:{metrics_port}/metrics"}

    def read(self) -> dict[str, dict[str, float]]:
        return {part: scrape(url, self.http) for part, url in self.urls.items()}

    def start(self) -> None:
        first = self.read()
        self.before = self.read()
        self.per_scrape = difference(self.before["api"], first["api"])

    def stop(self) -> dict[str, dict[str, float]]:
        after = self.read()
        result = {part: difference(after[part], self.before[part]) for part in after}
        result["api"] = {key: value - self.per_scrape.get(key, 0.0) for key, value in result["api"].items()}
        return result


def requests_per_job(counted: dict[str, dict[str, float]], jobs: int) -> dict[str, float]:
    """'service:operation' -> requests per job, api and thumbnailers together."""
    total: dict[str, float] = {}
    for part in ("api", "thumbnailers"):
        for key, value in counted[part].items():
            if ":" in key:
                total[key] = total.get(key, 0.0) + value / jobs
    return dict(sorted(total.items()))


def usd_per_million(per_job: dict[str, float]) -> dict[str, float]:
    """What JOBS_PRICED jobs cost in requests, by service."""
    s3 = sqs = 0.0
    for key, count in per_job.items():
        service, operation = key.split(":", 1)
        if service == "sqs":
            sqs += count * SQS_USD_PER_MILLION / 1e6
        elif operation not in S3_FREE_OPERATIONS:
            s3 += count * (S3_PUT_TIER_USD_PER_1000 if operation in S3_PUT_TIER else S3_GET_TIER_USD_PER_1000) / 1000
    return {"s3": s3 * JOBS_PRICED, "sqs": sqs * JOBS_PRICED}


@contextlib.contextmanager
def servers_for(backend: str, args, cpus: str | None = None):
    """(environ for the Stack, server processes for the CpuMeter) for a backend."""
    if backend == "embedded":
        yield {}, {}
    elif args.shared_servers:
        yield {}, None
    else:
        with PrivateServers(free_port(), free_port(), cpus) as private, patched_environ(private.environ()):
            warm_queue_server(args.queue_warmup)
            yield private.environ(), private.processes()


@contextlib.contextmanager
def patched_environ(values: dict[str, str]):
    """This process's boto3 clients (set-up, polling, clean-up) talk to the same servers."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cost(label: str, backend: str, args) -> dict:
    """One throughput run as bench/e2e.py's, with requests counted; then render-only."""
    data = (args.corpus / INPUTS[label]).read_bytes()
    metrics_port = free_port()
    with servers_for(backend, args) as (environ, server_processes), \
            Stack(f"cost-{label}", thumbnailers=args.thumbnailers, embedded=backend == "embedded", logs=args.logs,
                  thumbnailer_threads=args.thumbnailer_threads,
                  environ={**environ, "THUMBNAILER_METRICS_PORT": str(metrics_port)}) as stack:
        wait_for_http(f"http://127.0.0.1:{metrics_port}/metrics", 30)
        warm_up(stack, data, label, args)
        counters = Counters(stack, metrics_port)
        counters.start()
        meter = CpuMeter(stack, server_processes)
        with profiled(stack, f"{label}-{backend}", args.profile, args.profile_parts.split(",")):
            meter.start()
            started = time.time()
            submitted = submit_all(stack.url, data, INPUTS[label], args.jobs, args.clients)
            wait_complete(stack, timeout=args.timeout)
            cpu = meter.stop()
        counted = counters.stop()
        finished = finish_times(stack, [job_id for job_id, _, _ in submitted])
    jobs = len(submitted)
    rate, render_cpu_ms = render_only(data, 1, args.render_seconds)
    per_job = {part: seconds * 1000 / jobs for part, seconds in cpu.items() if part != "wall"}
    thumbnailer_metrics = counted["thumbnailers"]
    histogram_ms = thumbnailer_metrics.get(f"{RENDER_METRIC}_sum", 0) * 1000 / max(
        thumbnailer_metrics.get(f"{RENDER_METRIC}_count", 0), 1)
    kinds = requests_per_job(counted, jobs)
    return {"input": label, "backend": backend, "jobs": jobs, "clients": args.clients,
            "thumbnailers": args.thumbnailers, "completed_per_s": jobs / (max(finished.values()) - started),
            "cpu_ms_per_job": per_job, "render_cpu_ms": render_cpu_ms, "render_histogram_ms": histogram_ms,
            "render_only_per_s": rate, "requests_per_job": kinds, "usd_per_million_jobs": usd_per_million(kinds)}


@contextlib.contextmanager
def profiled(stack: Stack, name: str, folder: Path | None, parts: list[str]):
    """With a folder: py-spy samples the api's and the thumbnailers' processes (each tree, not
    idle threads, without pausing them) for the block; raw collapsed stacks and the top
    functions by own samples go to FOLDER/NAME-PART.txt and -top.txt."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    spies: dict[str, list[tuple[subprocess.Popen, Path]]] = {}
    for part, sampler in (("api", stack.api_sampler), ("thumbnailers", stack.worker_sampler)):
        if part not in parts:
            continue
        # Each worker process on its own, not `--subprocesses` on gunicorn's master.
        workers = sampler.processes()[1:] or sampler.processes()[:1] if sampler else []
        spies[part] = [(subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(process.pid), "--nonblocking",
             "--format", "raw", "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), output)
            for process in workers for output in [folder / f"{name}-{part}-{process.pid}.txt"]]
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for part, started in spies.items():
            for spy, _ in started:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            combined = folder / f"{name}-{part}.txt"
            combined.write_text("".join(output.read_text() for _, output in started if output.exists()))
            (folder / f"{name}-{part}-top.txt").write_text(top_functions(combined))


def top_functions(path: Path, count: int = 25) -> str:
    """Functions by own samples (the leaf of each stack), and by samples anywhere in the stack,
    from py-spy's raw format ('frame;frame;... samples')."""
    own: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = [frame for frame in stack.split(";") if "(" in frame]  # skips the process and thread names
        if not frames:
            continue
        total += int(samples)
        own[frames[-1]] = own.get(frames[-1], 0) + int(samples)
        for frame in set(frames):
            anywhere[frame] = anywhere.get(frame, 0) + int(samples)
    lines = [f"{total} samples", "", "own samples:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:count]]
    lines += ["", "anywhere in the stack:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in sorted(anywhere.items(), key=lambda kv: -kv[1])[:count]]
    return "\n".join(lines) + "\n"


def warm_up(stack: Stack, data: bytes, label: str, args) -> None:
    """Jobs done before anything is counted: a fresh JVM (ElasticMQ) interprets its code before
    the JIT compiles it, and costs several times as much per request meanwhile."""
    if args.warmup:
        submit_all(stack.url, data, INPUTS[label], args.warmup, args.clients)
        wait_complete(stack, timeout=args.timeout)


def listening_process(url: str) -> psutil.Process | None:
    """The process listening on the URL's port on this machine, if any (imgproxy's)."""
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        return None
    port = parsed.port or 80
    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            return psutil.Process(connection.pid)
    return None


def imgproxy(label: str, args) -> dict:
    """Requests/s of imgproxy making the same thumbnail from a local file, C clients."""
    url = f"{args.imgproxy_url.rstrip('/')}/insecure/{IMGPROXY_OPTIONS}/plain/local:///{INPUTS[label]}@jpg"
    sessions = [requests.Session() for _ in range(args.clients)]

    def fetch(number: int) -> None:
        response = sessions[number % args.clients].get(url, timeout=120)
        if response.status_code != 200 or response.headers.get("Content-Type") != "image/jpeg":
            raise RuntimeError(f"imgproxy answered {response.status_code} {response.text[:200]!r} for {url}")

    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(fetch, range(args.clients * 2)))  # warm
        process = listening_process(args.imgproxy_url)
        cpu_before = cpu_seconds([process]) if process else 0.0
        clients_before, started = time.process_time(), time.perf_counter()
        list(pool.map(fetch, range(args.imgproxy_requests)))
        elapsed = time.perf_counter() - started
    server_ms = (cpu_seconds([process]) - cpu_before) * 1000 / args.imgproxy_requests if process else None
    return {"input": label, "requests": args.imgproxy_requests, "clients": args.clients,
            "requests_per_s": args.imgproxy_requests / elapsed, "cpu_ms_per_request": server_ms,
            "client_cpu_ms_per_request": (time.process_time() - clients_before) * 1000 / args.imgproxy_requests}


@contextlib.contextmanager
def pinned_here(cpus: str):
    """This process (and threads it starts from now on) on these CPUs, for the block."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pinned(label: str, backend: str, args) -> dict:
    """One thumbnailer alone on core 1 drains a backlog queued while it was stopped."""
    data = (args.corpus / INPUTS[label]).read_bytes()
    with pinned_here(PIN_SERVICES), servers_for(backend, args, PIN_SERVICES) as (environ, server_processes), \
            Stack(f"pin-{label}", thumbnailers=1, embedded=backend == "embedded", environ=environ, logs=args.logs,
                  thumbnailer_threads=args.thumbnailer_threads,
                  api_cpus=PIN_SERVICES, thumbnailer_cpus=PIN_THUMBNAILER) as stack:
        assert stack.workers is not None
        warm_up(stack, data, label, args)
        worker = psutil.Process(stack.workers.pid)
        worker.send_signal(signal.SIGSTOP)
        try:
            submit_meter = CpuMeter(stack, server_processes)
            submit_meter.start()
            submitted = submit_all(stack.url, data, INPUTS[label], args.jobs, args.clients)
            submit_cpu = submit_meter.stop()
            time.sleep(1.0)  # the api's writes settle: the drain's CPU is the drain's
            drain_meter = CpuMeter(stack, server_processes)
            drain_meter.start()
            started = time.time()
        finally:
            worker.send_signal(signal.SIGCONT)
        wait_complete(stack, timeout=args.timeout)
        drain_cpu = drain_meter.stop()
        finished = finish_times(stack, [job_id for job_id, _, _ in submitted])
    jobs = len(submitted)
    drained = jobs / (max(finished.values()) - started)
    rate, render_cpu_ms = render_only(data, 1, args.render_seconds, PIN_THUMBNAILER)
    per_job = {f"{phase} {part}": seconds * 1000 / jobs
               for phase, cpu in (("submit", submit_cpu), ("drain", drain_cpu))
               for part, seconds in cpu.items() if part != "wall"}
    outside = sum(value for key, value in per_job.items() if "bench clients" not in key) - render_cpu_ms
    thumbnailer_ms = per_job["drain thumbnailers"]
    return {"input": label, "backend": backend, "jobs": jobs, "drained_per_s": drained, "render_only_per_s": rate,
            "ratio": drained / rate, "target": {"12mp": 0.85, "1080p": 0.7}.get(label),
            # On a core of its own and never waiting, drained/s ÷ render-only/s would be this:
            "cpu_ratio": render_cpu_ms / thumbnailer_ms, "core_busy": thumbnailer_ms * drained / 1000,
            "render_cpu_ms": render_cpu_ms, "cpu_ms_per_job": per_job, "outside_render_cpu_ms": outside,
            "outside_to_render": outside / render_cpu_ms}


def queue_round(client, url: str, messages: int) -> None:
    """What a job asks of the queue, `messages` times: send, receive, delete."""
    for _ in range(messages):
        client.send_message(QueueUrl=url, MessageBody="0b6c2f4e-job-id")
        message = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
        client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def warm_queue_server(messages: int) -> None:
    """A fresh ElasticMQ runs interpreted until its JIT compiles the hot paths: ~6 ms of CPU per
    request for the first thousands, 1-1.5 after (--phases queue). A server in service is warm."""
    from storage.aws import make_client

    client = make_client("sqs")
    url = client.create_queue(QueueName=f"thumbnails-bench-warm-{os.getpid()}-{free_port()}")["QueueUrl"]
    try:
        queue_round(client, url, messages)
    finally:
        client.delete_queue(QueueUrl=url)


def queue_rounds(args) -> list[dict]:
    """ElasticMQ's CPU per request, round after round, on a fresh private server and on the
    shared one (localhost.env), with the same calls a job makes (send, receive, delete)."""
    from storage.aws import make_client

    results = []
    targets = [("private, fresh", PrivateServers(free_port(), free_port())), ("shared", None)]
    for label, private in targets:
        with private or contextlib.nullcontext(), patched_environ(private.environ() if private else {}):
            processes = private.processes()["elasticmq"] if private else shared_servers()["elasticmq"]
            client = make_client("sqs")
            url = client.create_queue(QueueName=f"thumbnails-bench-q-{os.getpid()}-{free_port()}")["QueueUrl"]
            try:
                for number in range(args.queue_rounds):
                    before, started = cpu_seconds(processes), time.perf_counter()
                    queue_round(client, url, args.queue_round_messages)
                    calls = 3 * args.queue_round_messages
                    results.append({"server": label, "round": number + 1, "requests": calls,
                                    "server_cpu_ms_per_request": (cpu_seconds(processes) - before) * 1000 / calls,
                                    "wall_ms_per_request": (time.perf_counter() - started) * 1000 / calls})
                if private:  # what most of a job's receives are: empty, and the server idle between
                    before = cpu_seconds(processes)
                    time.sleep(IDLE_SECONDS)
                    idle_ms = (cpu_seconds(processes) - before) * 1000 / IDLE_SECONDS
                    before, started = cpu_seconds(processes), time.perf_counter()
                    for _ in range(args.queue_round_messages * 3):
                        client.receive_message(QueueUrl=url, MaxNumberOfMessages=4)
                    results.append({"server": f"{label}, empty receives (idle: {idle_ms:.1f} ms CPU a second)",
                                    "round": args.queue_rounds + 1, "requests": args.queue_round_messages * 3,
                                    "server_cpu_ms_per_request": (cpu_seconds(processes) - before) * 1000
                                    / (args.queue_round_messages * 3),
                                    "wall_ms_per_request": (time.perf_counter() - started) * 1000
                                    / (args.queue_round_messages * 3)})
            finally:
                client.delete_queue(QueueUrl=url)
    return results


def report(results: dict) -> None:
    if results.get("cost"):
        print("\nCPU ms per job by component (render: render-only CPU per render, measured right after; "
              "beyond render = thumbnailers - render)\n")
        print("| input | backend | completed/s | api | thumbnailers | render | thumbnailer beyond render | "
              "object store | queue | clients | total | outside render ÷ render | render histogram ms (wall) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results["cost"]:
            cpu = r["cpu_ms_per_job"]
            store, queue = cpu.get("minio", 0.0), cpu.get("elasticmq", 0.0)
            total = cpu["api"] + cpu["thumbnailers"] + store + queue + cpu["bench clients"]
            outside = total - cpu["bench clients"] - r["render_cpu_ms"]
            print(f"| {r['input']} | {r['backend']} | {r['completed_per_s']:.1f} | {cpu['api']:.1f} | "
                  f"{cpu['thumbnailers']:.1f} | {r['render_cpu_ms']:.1f} | "
                  f"{cpu['thumbnailers'] - r['render_cpu_ms']:.1f} | "
                  f"{store:.1f} | {queue:.1f} | {cpu['bench clients']:.1f} | {total:.1f} | "
                  f"{outside / r['render_cpu_ms']:.2f} | {r['render_histogram_ms']:.1f} |")
        served = [r for r in results["cost"] if r["requests_per_job"]]
        if served:
            print(f"\nS3 and SQS requests per job, and per {JOBS_PRICED:,} jobs at AWS's prices ({S3_PRICING_URL}, "
                  f"{SQS_PRICING_URL})\n")
            kinds = sorted({key for r in served for key in r["requests_per_job"]})
            print("| input | " + " | ".join(kinds) + " | S3 total | SQS total | S3 $ | SQS $ | $ per million jobs |")
            print("|---|" + "---:|" * (len(kinds) + 5))
            for r in served:
                per_job, usd = r["requests_per_job"], r["usd_per_million_jobs"]
                s3 = sum(v for k, v in per_job.items() if k.startswith("s3:"))
                sqs = sum(v for k, v in per_job.items() if k.startswith("sqs:"))
                print(f"| {r['input']} | " + " | ".join(f"{per_job.get(k, 0.0):.2f}" for k in kinds)
                      + f" | {s3:.2f} | {sqs:.2f} | {usd['s3']:.2f} | {usd['sqs']:.2f} | "
                      f"{usd['s3'] + usd['sqs']:.2f} |")
    if results.get("imgproxy"):
        ours = {(r["input"], r["backend"]): r["completed_per_s"] for r in results.get("cost", [])}
        print("\n| input | imgproxy req/s | imgproxy CPU ms/req | ours embedded completed/s | ratio | "
              "ours MinIO+ElasticMQ completed/s | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in results["imgproxy"]:
            cells = []
            for backend in ("embedded", "servers"):
                value = ours.get((r["input"], backend))
                cells += ["—", "—"] if value is None else [f"{value:.1f}", f"{value / r['requests_per_s']:.2f}"]
            server = "—" if r["cpu_ms_per_request"] is None else f"{r['cpu_ms_per_request']:.1f}"
            print(f"| {r['input']} | {r['requests_per_s']:.1f} | {server} | " + " | ".join(cells) + " |")
    if results.get("queue"):
        print("\nElasticMQ CPU per request (send, receive, delete in turn), round by round\n")
        print("| server | round | requests | ElasticMQ CPU ms per request | wall ms per request |")
        print("|---|---:|---:|---:|---:|")
        for r in results["queue"]:
            print(f"| {r['server']} | {r['round']} | {r['requests']} | {r['server_cpu_ms_per_request']:.2f} | "
                  f"{r['wall_ms_per_request']:.2f} |")
    if results.get("pinned"):
        print("\nPinned: services + api on core 0, one thumbnailer on core 1, backlog queued first\n")
        print("| input | backend | jobs | drained/s | render-only/s (core 1) | ratio | target | render CPU ms | "
              "thumbnailer CPU ms per job | render ÷ thumbnailer CPU | core 1 busy | "
              "CPU ms per job outside render | outside ÷ render |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results["pinned"]:
            print(f"| {r['input']} | {r['backend']} | {r['jobs']} | {r['drained_per_s']:.1f} | "
                  f"{r['render_only_per_s']:.1f} | {r['ratio']:.2f} | ≥ {r['target']} | {r['render_cpu_ms']:.1f} | "
                  f"{r['cpu_ms_per_job']['drain thumbnailers']:.1f} | {r['cpu_ratio']:.2f} | {r['core_busy']:.0%} | "
                  f"{r['outside_render_cpu_ms']:.1f} | {r['outside_to_render']:.2f} |")
        print("\nCPU ms per job by phase and part (submit: api + servers while the backlog is queued; "
              "drain: while the thumbnailer works it off)\n")
        parts = sorted({key for r in results["pinned"] for key in r["cpu_ms_per_job"]})
        print("| input | backend | " + " | ".join(parts) + " |")
        print("|---|---|" + "---:|" * len(parts))
        for r in results["pinned"]:
            print(f"| {r['input']} | {r['backend']} | "
                  + " | ".join(f"{r['cpu_ms_per_job'].get(p, 0.0):.1f}" for p in parts) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="cost", help="cost, pinned, queue (comma-separated)")
    parser.add_argument("--queue-rounds", type=int, default=6)
    parser.add_argument("--queue-warmup", type=int, default=3000,
                        help="send-receive-delete rounds on a private ElasticMQ before it is measured (JIT)")
    parser.add_argument("--queue-round-messages", type=int, default=500)
    parser.add_argument("--backends", default="embedded,servers")
    parser.add_argument("--inputs", default="1080p,12mp")
    parser.add_argument("--jobs", type=int, default=200, help="M: jobs per run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--thumbnailers", type=int, default=2, help="N, for the cost phase")
    parser.add_argument("--thumbnailer-threads", type=int, default=4, help="jobs in hand per thumbnailer")
    parser.add_argument("--imgproxy-url", help="an imgproxy serving the corpus folder as local:///")
    parser.add_argument("--imgproxy-requests", type=int, default=400)
    parser.add_argument("--shared-servers", action="store_true",
                        help="use the running MinIO/ElasticMQ (localhost.env) rather than private ones")
    parser.add_argument("--warmup", type=int, default=40, help="jobs run before each measurement")
    parser.add_argument("--render-seconds", type=float, default=RENDER_SECONDS)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles of the api and thumbnailers")
    parser.add_argument("--profile-parts", default="api,thumbnailers",
                        help="which to profile (comma-separated)")
    corpus.add_argument(parser)
    args = parser.parse_args(argv)
    inputs = [label for label in args.inputs.split(",") if label]
    args.corpus = corpus.resolve(args.corpus, [INPUTS[label] for label in inputs])
    backends = [backend for backend in args.backends.split(",") if backend]
    phases = set(args.phases.split(","))
    args.logs = Path(tempfile.mkdtemp(prefix="thumbnails-bench-cost-"))  # the services' logs, as in production
    results: dict[str, list] = {"cost": [], "imgproxy": [], "pinned": [], "queue": []}
    try:
        for label in inputs:
            if args.imgproxy_url and "cost" in phases:
                results["imgproxy"].append(imgproxy(label, args))
            if "cost" in phases:
                results["cost"] += [cost(label, backend, args) for backend in backends]
            if "pinned" in phases:
                results["pinned"] += [pinned(label, backend, args) for backend in backends]
        if "queue" in phases:
            results["queue"] = queue_rounds(args)
    except BaseException:
        print(f"the services' logs are kept in {args.logs}", file=sys.stderr)
        raise
    shutil.rmtree(args.logs, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
