"""The real stack for a benchmark: a gunicorn api and a thumbnailer supervisor started as
subprocesses against the running MinIO and ElasticMQ, with their own uniquely named
bucket and queue, removed again afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import storage  # noqa: E402
from api.keys import new_key  # noqa: E402
from storage.objects.s3 import S3ObjectStore  # noqa: E402
from storage.queues.sqs import SqsQueue  # noqa: E402

SAMPLE_SECONDS = 0.05
LOCALHOST_ENV = {k: v for k, v in dotenv_values(ROOT / "localhost.env").items() if v is not None}
# This process talks to MinIO/ElasticMQ too (set-up, polling, clean-up); botocore reads these.
for _key, _value in LOCALHOST_ENV.items():
    if _key.startswith("AWS_"):
        os.environ.setdefault(_key, _value)


# The stacks' api wants a key like any other; this one is made per benchmark run.
BENCH_KEY, _BENCH_RECORD = new_key("bench")
AUTH = {"Authorization": f"Bearer {BENCH_KEY}"}


def session() -> requests.Session:
    """An HTTP session that sends the benchmark's key."""
    http = requests.Session()
    http.headers.update(AUTH)
    return http


def environment(name: str, **extra: str) -> dict[str, str]:
    """localhost.env (MinIO/ElasticMQ on loopback), with this run's own bucket and queue."""
    env = dict(os.environ)
    env.update(LOCALHOST_ENV)
    env.update(STORAGE_URL=f"s3://{name}", QUEUE_URL=f"sqs://{name}", LOG_LEVEL="WARNING", API_KEYS=_BENCH_RECORD.line(),
               MAX_UPLOAD_BYTES=str(64 * 1024 * 1024))
    env.update(extra)
    return env


def unique_name(label: str) -> str:
    return f"thumbnails-bench-{label}-{time.strftime('%Y%m%dt%H%M%S')}-{secrets.token_hex(2)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's own peak resident set, kept by the kernel."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class TreeSampler:
    """Samples the summed RSS of a process and its children (e.g. gunicorn's master and
    workers) every SAMPLE_SECONDS; remembers the peak, and each process's own VmHWM."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak_total_mib = 0.0
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            total = 0.0
            for process in self.processes():
                with contextlib.suppress(psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
                    total += process.memory_info().rss / 2**20
                    self.peaks[process.pid] = peak_rss_mib(process.pid)
            self.peak_total_mib = max(self.peak_total_mib, total)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"peak_total_mib": self.peak_total_mib, "per_process_peak_mib": sorted(self.peaks.values())}


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def servers() -> dict[str, list[psutil.Process]]:
    """The shared MinIO and ElasticMQ processes, found by command line."""
    found: dict[str, list[psutil.Process]] = {"minio": [], "elasticmq": []}
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "minio server" in command:
            found["minio"].append(process)
        elif "elasticmq" in command and "java" in command:
            found["elasticmq"].append(process)
    return found


class CpuMeter:
    """CPU seconds used by each part of the system between start() and stop(): where the
    cores went (the servers are shared, so their share includes anyone else's load)."""

    def __init__(self, stack: "Stack"):
        self.stack = stack
        self._start: dict[str, float] = {}
        self._servers = servers()  # the same processes at start and stop, even if others start more

    def _now(self) -> dict[str, float]:
        parts = {"api": self.stack.api_sampler.processes() if self.stack.api_sampler else [],
                 "thumbnailers": self.stack.worker_sampler.processes() if self.stack.worker_sampler else [],
                 "bench clients": [psutil.Process()], **self._servers}
        return {name: cpu_seconds(processes) for name, processes in parts.items()}

    def start(self) -> None:
        self._start = self._now()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU seconds per part, and the wall seconds they are measured over."""
        now = self._now()
        result = {name: now[name] - self._start.get(name, 0.0) for name in now}
        result["wall"] = time.monotonic() - self._started
        return result


class Stack:
    """Use as a context manager: starts what was asked for, and cleans everything up."""

    def __init__(self, label: str, thumbnailers: int = 0, api_workers: int = 2, api_threads: int = 4,
                 thumbnailer_threads: int = 4):
        self.name = unique_name(label)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = environment(self.name, WEB_CONCURRENCY=str(api_workers), GUNICORN_THREADS=str(api_threads),
                               THUMBNAILER_PROCESSES=str(max(thumbnailers, 1)),
                               THUMBNAILER_THREADS=str(thumbnailer_threads))
        self.settings = storage.Settings.from_env(self.env)
        self.thumbnailers = thumbnailers
        self.api: subprocess.Popen | None = None
        self.workers: subprocess.Popen | None = None
        self.api_sampler: TreeSampler | None = None
        self.worker_sampler: TreeSampler | None = None

    def __enter__(self) -> Stack:
        try:
            self.backends().ensure()
            self.api = subprocess.Popen([sys.executable, "-m", "api", "--bind", f"127.0.0.1:{self.port}",
                                         "--access-logfile", "/dev/null"], env=self.env, cwd=ROOT,
                                        stderr=subprocess.DEVNULL)
            self._wait_until_ready()
            self.api_sampler = TreeSampler(self.api.pid)
            if self.thumbnailers:
                self.start_thumbnailers()
        except BaseException:
            self.__exit__(None, None, None)  # a failed start leaves no process, bucket or queue behind
            raise
        return self

    def start_thumbnailers(self) -> None:
        self.workers = subprocess.Popen([sys.executable, "-m", "thumbnailer"], env=self.env, cwd=ROOT)
        self.worker_sampler = TreeSampler(self.workers.pid)
        deadline = time.monotonic() + 60
        while len(self.worker_sampler.processes()) < self.thumbnailers + (self.thumbnailers > 1):
            if time.monotonic() > deadline:
                raise RuntimeError("thumbnailer processes did not start")
            time.sleep(0.1)
        time.sleep(1.0)  # let each import and start long-polling

    def backends(self) -> storage.Backends:
        return storage.connect(self.settings)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"the api exited with {self.api.returncode}")
            # Refused while not listening; a read timeout while its workers still boot.
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(f"{self.url}/readyz", timeout=1).ok:
                    return
            time.sleep(0.2)
        raise RuntimeError("the api did not become ready")

    def memory(self) -> dict:
        """Peak RSS so far: the api (all gunicorn processes summed, and each), each thumbnailer."""
        result = {}
        if self.api_sampler:
            result["api"] = {"peak_total_mib": self.api_sampler.peak_total_mib,
                             "per_process_peak_mib": sorted(self.api_sampler.peaks.values())}
        if self.worker_sampler:
            children = [p.pid for p in self.worker_sampler.processes()[1:]] or [self.workers.pid]
            result["thumbnailers_peak_mib"] = [peak_rss_mib(pid) for pid in children]
        return result

    def __exit__(self, *exc_info) -> None:
        for sampler in (self.api_sampler, self.worker_sampler):
            if sampler:
                sampler.stop()
        for process in (self.workers, self.api):
            if process and process.poll() is None:
                process.terminate()
        for process in (self.workers, self.api):
            if process:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        backends = self.backends()
        assert isinstance(backends.queue, SqsQueue) and isinstance(backends.objects, S3ObjectStore)
        with contextlib.suppress(storage.ThumbnailsError):
            backends.queue.delete_queue()
        with contextlib.suppress(storage.ThumbnailsError):
            backends.objects.delete_bucket()
