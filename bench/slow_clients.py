#!/usr/bin/env python3
"""Slow clients against `thumbnails serve`: what other users' requests see while they hang on.

Starts `thumbnails serve` on the embedded backends in a temporary folder, then opens CLIENTS
slow connections (half send a header line every --interval seconds and never finish their
headers, reconnecting when cut off; half are authenticated uploads that declare 1 MB and send
one byte every --interval seconds), and meanwhile times other users' requests (GET /healthz
and an authenticated GET /jobs/<id>, from a few threads). Prints p50/p99/max and errors.

    .venv/bin/python bench/slow_clients.py 500
    .venv/bin/python bench/slow_clients.py 500 --worker-class gthread   # the old set-up
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.keys import new_key  # noqa: E402
from processes import waiting  # noqa: E402
from processes.ports import free_port  # noqa: E402

DECLARED_UPLOAD_BYTES = 1024 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clients", type=int, help="slow connections to hold open")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a slow client's bytes (2)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measurement (20)")
    parser.add_argument("--users", type=int, default=4, help="threads timing other users' requests (4)")
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--worker-class", default="gevent", help="gunicorn worker class (gevent)")
    parser.add_argument("--port", type=int, default=0, help="port for the api (a free one)")
    return parser.parse_args(argv)


def start_service(args, data_dir: Path, port: int) -> tuple[subprocess.Popen, str, str]:
    key, record = new_key("bench")
    environ = {name: value for name, value in os.environ.items() if name not in ("STORAGE_URL", "QUEUE_URL")}
    environ.update(DATA_DIR=str(data_dir), WEB_CONCURRENCY=str(args.api_workers), API_KEYS=record.line(),
                   GUNICORN_WORKER_CLASS=args.worker_class, RATE_LIMIT_PER_MINUTE="100000", LOG_LEVEL="WARNING")
    log = open(data_dir / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), "--thumbnailers", "1"],
                               env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        waiting.wait_for_http(f"{url}/readyz", 60, [process])
    except (waiting.ProcessExited, TimeoutError) as error:
        waiting.stop(process)
        raise SystemExit(f"thumbnails serve did not start: {error}; see {data_dir}/serve.log") from None
    return process, url, key


async def slow_headers(port: int, interval: float, stop: asyncio.Event, stats: dict) -> None:
    """Never finish the headers; when the server cuts the connection, open another."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            stats["open"] += 1
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
            number = 0
            while not stop.is_set():
                await writer.drain()
                await asyncio.sleep(interval)
                number += 1
                writer.write(f"X-Slow-{number}: a\r\n".encode())
                if reader.at_eof():
                    break
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            stats["open"] -= 1 if "writer" in locals() else 0
            stats["cut"] += 1
        await asyncio.sleep(interval)


async def slow_upload(port: int, key: str, interval: float, stop: asyncio.Event, stats: dict) -> None:
    """An authenticated upload that declares 1 MB and sends one byte per interval."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write((f"POST /jobs HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
                          f"Content-Type: image/jpeg\r\nContent-Length: {DECLARED_UPLOAD_BYTES}\r\n\r\n").encode())
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"\xff")
                await writer.drain()
                await asyncio.sleep(interval)
        except OSError:
            pass
        stats["cut"] += 1
        await asyncio.sleep(interval)


def run_slow_clients(args, port: int, key: str, stop_flag: threading.Event, stats: dict) -> None:
    async def main():
        stop = asyncio.Event()
        tasks = [asyncio.create_task(slow_headers(port, args.interval, stop, stats) if number % 2 == 0
                                     else slow_upload(port, key, args.interval, stop, stats))
                 for number in range(args.clients)]
        while not stop_flag.is_set():
            await asyncio.sleep(0.2)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def time_users(url: str, key: str, job_id: str, seconds: float, users: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + seconds

    def user(number: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {key}"}
        while time.monotonic() < deadline:
            path, sent = ("/healthz", {}) if number % 2 == 0 else (f"/jobs/{job_id}", headers)
            started = time.perf_counter()
            try:
                ok = session.get(url + path, headers=sent, timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors[0] += not ok
            time.sleep(0.05)

    threads = [threading.Thread(target=user, args=(number,)) for number in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="thumbnails-slow-"))
    port = args.port or free_port()
    process, url, key = start_service(args, data_dir, port)
    try:
        image = io.BytesIO()
        Image.new("RGB", (64, 64), "teal").save(image, "JPEG")
        job_id = requests.post(f"{url}/jobs", files={"image": ("a.jpg", image.getvalue())},
                               headers={"Authorization": f"Bearer {key}"}, timeout=10).json()["id"]
        baseline, _ = time_users(url, key, job_id, 3, args.users)
        stop = threading.Event()
        stats = {"open": 0, "cut": 0}
        attackers = threading.Thread(target=run_slow_clients, args=(args, port, key, stop, stats))
        attackers.start()
        time.sleep(max(3.0, args.interval * 2))  # every slow client connected and under way
        latencies, errors = time_users(url, key, job_id, args.duration, args.users)
        stop.set()
        attackers.join()
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    ms = [value * 1000 for value in latencies]
    print(f"worker class {args.worker_class}, {args.api_workers} api workers, {args.clients} slow clients "
          f"(a byte or header line every {args.interval} s)")
    print(f"  without them: p50 {statistics.median(baseline) * 1000:.1f} ms, "
          f"p99 {percentile(baseline, 0.99) * 1000:.1f} ms")
    print(f"  with them:    {len(ms)} requests, {errors} errors, p50 {statistics.median(ms):.1f} ms, "
          f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")
    return 0 if errors == 0 and percentile(ms, 0.99) < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
