"""The one throwaway stack for benchmarks and the load test: a gunicorn api and a thumbnailer
supervisor started as subprocesses against the MinIO and ElasticMQ on this machine (the
endpoints must be loopback), with their own uniquely named bucket and queue and API key,
removed again afterwards; or on the embedded backends (a folder and SQLite in a temporary
folder), as `thumbnails serve` runs them. PrivateServers starts a MinIO and an ElasticMQ of the
benchmark's own (scripts/services.sh on other ports), whose CPU is the benchmark's alone."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import psutil
import requests
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import core  # noqa: E402
import storage  # noqa: E402
from core.keys import new_key  # noqa: E402
from processes.ports import free_port  # noqa: E402
from processes.waiting import stop, wait_for_http, wait_until  # noqa: E402
from storage.objects.s3 import S3ObjectStore  # noqa: E402
from storage.queues.sqs import SqsQueue  # noqa: E402

SAMPLE_SECONDS = 0.05
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LOCALHOST_ENV = {k: v for k, v in dotenv_values(ROOT / "localhost.env").items() if v is not None}
# This process talks to MinIO/ElasticMQ too (set-up, polling, clean-up); botocore reads these.
# What the environment sets wins, here and in the stack's processes alike.
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


def environment(name: str, data_dir: str | None = None, **extra: str) -> dict[str, str]:
    """The environment over localhost.env (MinIO/ElasticMQ on loopback), with this run's own
    bucket, queue and key; with data_dir, the embedded backends in that folder instead."""
    env = dict(LOCALHOST_ENV)
    env.update(os.environ)
    env.update(STORAGE_URL=f"s3://{name}", QUEUE_URL=f"sqs://{name}", LOG_LEVEL="WARNING",
               API_KEYS=_BENCH_RECORD.line(), MAX_UPLOAD_BYTES=str(64 * 1024 * 1024))
    if data_dir:
        for variable in ("STORAGE_URL", "QUEUE_URL", "JOBS_URL", "QUEUE_URL_HIGH", "QUEUE_URL_LOW"):
            env.pop(variable, None)
        env["DATA_DIR"] = data_dir
    env.update(extra)
    return env


class NotLoopback(SystemExit):
    """The stack makes a lot of traffic: it never talks to servers off this machine."""


def require_loopback(environ: Mapping[str, str]) -> None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        if urlparse(environ.get(name, "")).hostname not in LOOPBACK:
            raise NotLoopback(f"{name} must point at 127.0.0.1 (it is {environ.get(name)!r})")


def unique_name(label: str) -> str:
    return f"thumbnails-bench-{label}-{time.strftime('%Y%m%dt%H%M%S')}-{secrets.token_hex(2)}"


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


def shared_servers() -> dict[str, list[psutil.Process]]:
    """The shared MinIO and ElasticMQ processes, found by command line."""
    found: dict[str, list[psutil.Process]] = {"minio": [], "elasticmq": []}
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "minio server" in command:
            found["minio"].append(process)
        elif "elasticmq" in command and "java" in command:
            found["elasticmq"].append(process)
    return found


class PrivateServers:
    """A MinIO and an ElasticMQ of this benchmark's own, started by scripts/services.sh on the
    given ports with their data in a temporary SERVICES_DIR, optionally on some CPUs only
    (taskset -c), and stopped again (only these: services.sh stops what its pid files name).
    Their CPU is the benchmark's alone, unlike the shared servers'."""

    def __init__(self, minio_port: int, elasticmq_port: int, cpus: str | None = None):
        self.minio_port, self.elasticmq_port, self.cpus = minio_port, elasticmq_port, cpus
        self.folder = tempfile.mkdtemp(prefix="thumbnails-bench-services-")
        self.env = dict(os.environ, MINIO_PORT=str(minio_port), ELASTICMQ_PORT=str(elasticmq_port),
                        SERVICES_DIR=self.folder)

    def _services(self, action: str) -> None:
        command = [str(ROOT / "scripts" / "services.sh"), action]
        if self.cpus and action == "start":
            command = ["taskset", "-c", self.cpus, *command]
        subprocess.run(command, env=self.env, check=True, stdout=subprocess.DEVNULL)

    def __enter__(self) -> PrivateServers:
        try:
            self._services("start")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._services("stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def environ(self) -> dict[str, str]:
        """What a Stack's environ needs to use these servers."""
        return {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{self.minio_port}",
                "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{self.elasticmq_port}"}

    def processes(self) -> dict[str, list[psutil.Process]]:
        found = {}
        for name in ("minio", "elasticmq"):
            pid = int(Path(self.folder, f"{name}.pid").read_text())
            found[name] = [psutil.Process(pid)]
        return found


class CpuMeter:
    """CPU seconds used by each part of the system between start() and stop(): where the
    cores went (the shared servers' share includes anyone else's load; pass a PrivateServers'
    processes as `servers` to count only the benchmark's, or {} on the embedded backends)."""

    def __init__(self, stack: Stack, servers: dict[str, list[psutil.Process]] | None = None):
        self.stack = stack
        self._start: dict[str, float] = {}
        # the same processes at start and stop, even if others start more
        self._servers = shared_servers() if servers is None else servers

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
    """Use as a context manager: starts what was asked for, and cleans everything up. With
    logs, the api's and the thumbnailers' output go to api.log and thumbnailers.log there."""

    def __init__(self, label: str, thumbnailers: int = 0, api_workers: int = 2, api_threads: int = 4,
                 thumbnailer_threads: int = 4, logs: Path | None = None, environ: Mapping[str, str] | None = None,
                 embedded: bool = False, api_cpus: str | None = None, thumbnailer_cpus: str | None = None):
        self.name = unique_name(label)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix=f"{self.name}-") if embedded else None
        self.cpus = {"api": api_cpus, "thumbnailers": thumbnailer_cpus}  # taskset -c lists, None: any
        self.env = environment(self.name, self.data_dir, WEB_CONCURRENCY=str(api_workers),
                               GUNICORN_THREADS=str(api_threads), THUMBNAILER_PROCESSES=str(max(thumbnailers, 1)),
                               THUMBNAILER_THREADS=str(thumbnailer_threads), **(environ or {}))
        if not embedded:
            require_loopback(self.env)
        self.settings = core.Settings.from_env(self.env)
        self.thumbnailers = thumbnailers
        self.logs = logs
        self.api: subprocess.Popen | None = None
        self.workers: subprocess.Popen | None = None
        self.api_sampler: TreeSampler | None = None
        self.worker_sampler: TreeSampler | None = None

    def __enter__(self) -> Stack:
        try:
            self.backends().ensure()
            self.api = self._spawn("api", [sys.executable, "-m", "api", "--bind", f"127.0.0.1:{self.port}",
                                           *([] if self.logs else ["--access-logfile", "/dev/null"])])
            wait_for_http(f"{self.url}/readyz", 30, [self.api])
            self.api_sampler = TreeSampler(self.api.pid)
            if self.thumbnailers:
                self.start_thumbnailers()
        except BaseException:
            self.__exit__(None, None, None)  # a failed start leaves no process, bucket or queue behind
            raise
        return self

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        if self.cpus.get(name):  # children inherit the affinity
            command = ["taskset", "-c", str(self.cpus[name]), *command]
        if self.logs is None:  # the thumbnailers' warnings on the terminal, the api's access log nowhere
            return subprocess.Popen(command, env=self.env, cwd=ROOT,
                                    stderr=subprocess.DEVNULL if name == "api" else None)
        with open(self.logs / f"{name}.log", "w") as log:
            return subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def start_thumbnailers(self) -> None:
        self.workers = self._spawn("thumbnailers", [sys.executable, "-m", "thumbnailer"])
        self.worker_sampler = sampler = TreeSampler(self.workers.pid)
        wait_until(lambda: len(sampler.processes()) >= self.thumbnailers + (self.thumbnailers > 1), 60,
                   description="the thumbnailer processes")
        time.sleep(1.0)  # let each import and start long-polling: a benchmark measures warm processes

    def alive(self) -> bool:
        """Every process started is still running (none crashed under load)."""
        return all(process.poll() is None for process in (self.api, self.workers) if process)

    def count_in_thumbnailer_logs(self, text: str) -> int:
        path = self.logs / "thumbnailers.log" if self.logs else None
        return path.read_text().count(text) if path and path.exists() else 0

    def backends(self) -> storage.Backends:
        return storage.connect(self.settings)

    def memory(self) -> dict:
        """Peak RSS so far: the api (all gunicorn processes summed, and each), each thumbnailer."""
        result: dict[str, object] = {}
        if self.api_sampler:
            result["api"] = {"peak_total_mib": self.api_sampler.peak_total_mib,
                             "per_process_peak_mib": sorted(self.api_sampler.peaks.values())}
        if self.worker_sampler:
            children = [p.pid for p in self.worker_sampler.processes()[1:]] or [self.worker_sampler.root.pid]
            result["thumbnailers_peak_mib"] = [peak_rss_mib(pid) for pid in children]
        return result

    def __exit__(self, *exc_info) -> None:
        for sampler in (self.api_sampler, self.worker_sampler):
            if sampler:
                sampler.stop()
        stop(*(process for process in (self.workers, self.api) if process), grace=30)
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            return
        backends = self.backends()
        assert isinstance(backends.queue, SqsQueue) and isinstance(backends.objects, S3ObjectStore)
        with contextlib.suppress(core.ThumbnailsError):
            backends.queue.delete_queue()
        with contextlib.suppress(core.ThumbnailsError):
            backends.objects.delete_bucket()
