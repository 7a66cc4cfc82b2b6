#!/usr/bin/env python3
"""End-to-end benchmark on the real stack: MinIO + ElasticMQ (already running, as
scripts/services.sh starts them) + a gunicorn api + N thumbnailer processes.

    .venv/bin/python bench/e2e.py --jobs 300 --thumbnailers 2      # everything below

Phases (--phases):
  throughput  M jobs from concurrent clients per input (1080p, 12 MP); accepted/s,
              completed/s, p50/p95/p99 submit-to-complete latency, peak RSS of the api
              and of each thumbnailer, and system efficiency = completed/s divided by the
              render-only images/s of N processes measured right after, in the same run.
  idle        one job at a time on the idle stack: p50 latency vs 3 x one render + 100 ms.
  uploads     api peak RSS with 10 uploads in flight, 1 MB vs 50 MB (no thumbnailers).
  ingest      (not in the default set) accepted/s of several gunicorn workers x threads
              set-ups, no thumbnailers: how gunicorn.conf.py's defaults were chosen.

Each phase gets its own bucket and queue (thumbnails-bench-*), deleted afterwards.
Latency is measured from just before the client's POST to the `finish` time that the
thumbnailer writes into the job document (same machine, same clock).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from stack import AUTH, CpuMeter, Stack, session  # noqa: E402

from core.render import render  # noqa: E402

INPUTS = {"1080p": "jpeg_fullhd_1920x1080.jpg", "12mp": "jpeg_12mp_baseline.jpg",
          "24mp": "jpeg_24mp_baseline.jpg"}  # 24mp: for the thumbnailers' peak RSS on the largest JPEG
TARGET_EFFICIENCY = {"1080p": 0.5, "12mp": 0.7, "24mp": None}
UPLOADS_IN_FLIGHT = 10
RENDER_RATE_SECONDS = 6.0
CORES = len(os.sched_getaffinity(0))


def submit(session: requests.Session, url: str, data: bytes, name: str) -> tuple[str, float, float]:
    """POST one image as curl -F would; (job id, wall time before, wall time accepted)."""
    started = time.time()
    response = session.post(f"{url}/jobs", files={"image": (name, data, "image/jpeg")}, timeout=120)
    response.raise_for_status()
    return response.json()["id"], started, time.time()


def submit_all(url: str, data: bytes, name: str, jobs: int, clients: int) -> list[tuple[str, float, float]]:
    sessions = [session() for _ in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda n: submit(sessions[n % clients], url, data, name), range(jobs)))


def wait_complete(stack: Stack, timeout: float) -> None:
    """Until the queues hold no message, visible or in flight: every job was acknowledged.
    (Asking ElasticMQ is cheap; listing the bucket would load MinIO, which is measured.)"""
    inbox = stack.backends().inbox  # every priority
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        depth = inbox.approximate_depth()
        if depth == (0, 0):
            return
        time.sleep(0.1)
    raise RuntimeError(f"jobs still queued after {timeout} s: (waiting, in flight) = {depth}")


def finish_times(stack: Stack, job_ids: list[str]) -> dict[str, float]:
    jobs = stack.backends().jobs
    result = {}
    for job_id in job_ids:
        job = jobs.load(job_id)
        if job.status.value != "complete":
            raise RuntimeError(f"job {job_id} ended {job.status.value}: {job.message}")
        finish = job.finish if isinstance(job.finish, datetime) else datetime.fromisoformat(job.finish)
        result[job_id] = finish.timestamp()
    return result


def _render_for(args: tuple[bytes, float, str | None]) -> tuple[int, float]:
    """Renders for `seconds` (on the CPUs listed, if any): (renders, CPU seconds they took)."""
    data, seconds, cpus = args
    if cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    render(data)  # warm: imports and first-call set-up are not a render's cost
    count, cpu_before, deadline = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        render(data)
        count += 1
    return count, time.process_time() - cpu_before


def render_only(data: bytes, processes: int, seconds: float = RENDER_RATE_SECONDS,
                cpus: str | None = None) -> tuple[float, float]:
    """`processes` processes doing nothing but render() (each on `cpus`, a taskset-style list,
    if given): (images/s of them all, CPU ms per render)."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_render_for, [(data, seconds, cpus)] * processes)
    count = sum(renders for renders, _ in results)
    return count / seconds, sum(cpu for _, cpu in results) * 1000 / max(count, 1)


def render_rate(data: bytes, processes: int, seconds: float = RENDER_RATE_SECONDS) -> float:
    """Images/s of `processes` processes doing nothing but render()."""
    return render_only(data, processes, seconds)[0]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def throughput(label: str, args) -> dict:
    data = (args.corpus / INPUTS[label]).read_bytes()
    with Stack(f"tp-{label}", thumbnailers=args.thumbnailers, api_workers=args.api_workers,
               api_threads=args.api_threads, thumbnailer_threads=args.thumbnailer_threads) as stack:
        meter = CpuMeter(stack)
        meter.start()
        started = time.time()
        submitted = submit_all(stack.url, data, INPUTS[label], args.jobs, args.clients)
        wait_complete(stack, timeout=args.timeout)
        cpu = meter.stop()
        memory = stack.memory()
        finished = finish_times(stack, [job_id for job_id, _, _ in submitted])
    latencies = [(finished[job_id] - before) * 1000 for job_id, before, _ in submitted]
    accepted_s = len(submitted) / (max(after for _, _, after in submitted) - started)
    completed_s = len(submitted) / (max(finished.values()) - started)
    rate = render_rate(data, args.thumbnailers, args.render_seconds)
    cpu_ms_per_job = {part: seconds * 1000 / len(submitted) for part, seconds in cpu.items() if part != "wall"}
    # If every part shares the machine's cores, completed/s cannot exceed cores / CPU per job.
    cpu_bound_per_s = CORES * 1000 / sum(cpu_ms_per_job.values())
    return {"input": label, "jobs": args.jobs, "thumbnailers": args.thumbnailers, "clients": args.clients,
            "accepted_per_s": accepted_s, "completed_per_s": completed_s, "render_only_per_s": rate,
            "efficiency": completed_s / rate, "target_efficiency": TARGET_EFFICIENCY[label],
            "latency_ms": {q: percentile(latencies, q) for q in (50, 95, 99)}, "memory": memory, "cpu": cpu,
            "cpu_ms_per_job": cpu_ms_per_job, "cpu_bound_per_s": cpu_bound_per_s,
            "efficiency_ceiling": cpu_bound_per_s / rate}


def idle_latency(label: str, args) -> dict:
    data = (args.corpus / INPUTS[label]).read_bytes()
    render_ms = statistics.median(_timed(render, data) for _ in range(15))
    latencies = []
    with Stack(f"idle-{label}", thumbnailers=args.thumbnailers, api_workers=args.api_workers,
               api_threads=args.api_threads, thumbnailer_threads=args.thumbnailer_threads) as stack:
        http = session()
        for _ in range(args.idle_jobs):
            job_id, before, _ = submit(http, stack.url, data, INPUTS[label])
            while http.get(f"{stack.url}/jobs/{job_id}", timeout=10).json()["status"] != "complete":
                time.sleep(0.02)
            latencies.append((finish_times(stack, [job_id])[job_id] - before) * 1000)
            time.sleep(0.2)  # idle again: the thumbnailers are back in their long poll
    return {"input": label, "render_ms": render_ms, "p50_ms": statistics.median(latencies),
            "target_ms": 3 * render_ms + 100, "jobs": args.idle_jobs}


def ingest(config: str, args) -> dict:
    """Accepted/s of one gunicorn set-up (WORKERSxTHREADS), no thumbnailers: the api alone."""
    workers, threads = (int(part) for part in config.split("x"))
    label = args.inputs.split(",")[-1]
    data = (args.corpus / INPUTS[label]).read_bytes()
    with Stack(f"in-{config}", thumbnailers=0, api_workers=workers, api_threads=threads) as stack:
        meter = CpuMeter(stack)
        meter.start()
        started = time.time()
        submitted = submit_all(stack.url, data, INPUTS[label], args.jobs, args.clients)
        elapsed = max(after for _, _, after in submitted) - started
        cpu = meter.stop()
        memory = stack.memory()["api"]
    return {"config": config, "input": label, "jobs": args.jobs, "accepted_per_s": len(submitted) / elapsed,
            "api_cpu_ms_per_job": cpu["api"] * 1000 / len(submitted), "api_peak_mib": memory["peak_total_mib"]}


def _timed(function, *arguments) -> float:
    started = time.perf_counter()
    function(*arguments)
    return (time.perf_counter() - started) * 1000


def noise_png(megabytes: float) -> bytes:
    """An incompressible PNG of about this size (noise, stored without compression)."""
    side = int((megabytes * 1e6 / 3) ** 0.5)
    pixels = np.random.default_rng(7).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def upload_memory(megabytes: float, args) -> dict:
    data = noise_png(megabytes)
    with Stack(f"up-{int(megabytes)}mb", thumbnailers=0, api_workers=args.api_workers,
               api_threads=args.api_threads) as stack:
        def upload(n: int) -> None:
            response = requests.post(f"{stack.url}/jobs", files={"image": ("noise.png", data, "image/png")},
                                     headers=AUTH, timeout=300)
            response.raise_for_status()

        with ThreadPoolExecutor(UPLOADS_IN_FLIGHT) as pool:
            list(pool.map(upload, range(UPLOADS_IN_FLIGHT * args.upload_rounds)))
        time.sleep(0.2)
        memory = stack.memory()["api"]
    return {"upload_mb": len(data) / 1e6, "in_flight": UPLOADS_IN_FLIGHT, **memory}


def report(results: dict) -> None:
    if "throughput" in results:
        print("\n| input | jobs | N | clients | accepted/s | completed/s | render-only/s (N procs) | efficiency "
              "| target | p50 ms | p95 ms | p99 ms | api peak RSS MiB (all procs) | thumbnailer peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in results["throughput"]:
            lat, mem = r["latency_ms"], r["memory"]
            print(f"| {r['input']} | {r['jobs']} | {r['thumbnailers']} | {r['clients']} | {r['accepted_per_s']:.1f} | "
                  f"{r['completed_per_s']:.1f} | {r['render_only_per_s']:.1f} | {r['efficiency']:.2f} | "
                  f"{'≥ ' + str(r['target_efficiency']) if r['target_efficiency'] else '—'} | "
                  f"{lat[50]:.0f} | {lat[95]:.0f} | {lat[99]:.0f} | {mem['api']['peak_total_mib']:.0f} | "
                  f"{', '.join(f'{m:.0f}' for m in mem['thumbnailers_peak_mib'])} |")
        print(f"\nWhere the CPU went: CPU ms per job by part ({CORES} cores shared by all of them). The ceiling is "
              "the efficiency the CPU allows: (cores / total CPU per job) / render-only rate.\n")
        parts = list(results["throughput"][0]["cpu_ms_per_job"])
        print("| input | N | " + " | ".join(parts) + " | total | completed/s the CPU allows | efficiency ceiling |")
        print("|---|---:|" + "---:|" * (len(parts) + 3))
        for r in results["throughput"]:
            per_job = r["cpu_ms_per_job"]
            print(f"| {r['input']} | {r['thumbnailers']} | " + " | ".join(f"{per_job[p]:.1f}" for p in parts)
                  + f" | {sum(per_job.values()):.1f} | {r['cpu_bound_per_s']:.1f} | {r['efficiency_ceiling']:.2f} |")
    if "ingest" in results:
        print("\n| gunicorn workers x threads | input | jobs | accepted/s | api CPU ms per job | api peak RSS MiB |")
        print("|---|---|---:|---:|---:|---:|")
        for r in results["ingest"]:
            print(f"| {r['config']} | {r['input']} | {r['jobs']} | {r['accepted_per_s']:.1f} | "
                  f"{r['api_cpu_ms_per_job']:.1f} | {r['api_peak_mib']:.0f} |")
    if "idle" in results:
        print("\n| input | one render ms | idle p50 submit-to-complete ms | target (3 x render + 100) ms |")
        print("|---|---:|---:|---:|")
        for r in results["idle"]:
            print(f"| {r['input']} | {r['render_ms']:.1f} | {r['p50_ms']:.0f} | ≤ {r['target_ms']:.0f} |")
    if "uploads" in results:
        print("\n| upload size | in flight | api peak RSS MiB (all procs, sampled) | per-process peak (VmHWM) MiB |")
        print("|---:|---:|---:|---|")
        for r in results["uploads"]:
            print(f"| {r['upload_mb']:.1f} MB | {r['in_flight']} | {r['peak_total_mib']:.0f} | "
                  f"{', '.join(f'{m:.0f}' for m in r['per_process_peak_mib'])} |")
        if len(results["uploads"]) == 2:
            small, large = results["uploads"]
            difference = large["peak_total_mib"] - small["peak_total_mib"]
            print(f"\napi peak RSS difference 50 MB vs 1 MB: {difference:.0f} MiB (target ≤ 50)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300, help="M: jobs per throughput run")
    parser.add_argument("--thumbnailers", type=int, default=2, help="N: thumbnailer processes")
    parser.add_argument("--clients", type=int, default=8, help="concurrent submitting clients")
    parser.add_argument("--inputs", default="1080p,12mp")
    parser.add_argument("--phases", default="throughput,idle,uploads")
    parser.add_argument("--api-configs", default="1x8,2x4,4x2,2x8",
                        help="ingest phase: gunicorn WORKERSxTHREADS set-ups to compare")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--api-threads", type=int, default=4)
    parser.add_argument("--thumbnailer-threads", type=int, default=4)
    parser.add_argument("--idle-jobs", type=int, default=15)
    parser.add_argument("--upload-sizes", default="1,50", help="MB, comma-separated")
    parser.add_argument("--upload-rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--render-seconds", type=float, default=RENDER_RATE_SECONDS,
                        help="how long the render-only processes run")
    corpus.add_argument(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    inputs = [label for label in args.inputs.split(",") if label]
    args.corpus = corpus.resolve(args.corpus, [INPUTS[label] for label in inputs])
    phases = set(args.phases.split(","))
    results: dict[str, list] = {}
    if "throughput" in phases:
        results["throughput"] = [throughput(label, args) for label in inputs]
    if "ingest" in phases:
        results["ingest"] = [ingest(config, args) for config in args.api_configs.split(",")]
    if "idle" in phases:
        results["idle"] = [idle_latency(label, args) for label in inputs]
    if "uploads" in phases:
        results["uploads"] = [upload_memory(float(mb), args) for mb in args.upload_sizes.split(",")]
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
