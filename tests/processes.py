"""Starting and stopping the service's real processes (gunicorn api, thumbnailers) for tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening, or workers still booting
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _spawn(args: list[str], env: dict, log: Path | None) -> subprocess.Popen:
    if log is None:
        return subprocess.Popen(args, env=env)
    with open(log, "w") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)


def start_api(env: dict, port: int, log: Path | None = None) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:port; waits until it answers /healthz."""
    process = _spawn([sys.executable, "-m", "api", "--bind", f"127.0.0.1:{port}"], env, log)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    except BaseException:
        stop(process)  # an api that never answered is not left running after the test
        raise
    return process


def start_thumbnailer(env: dict, log: Path | None = None) -> subprocess.Popen:
    return _spawn([sys.executable, "-m", "thumbnailer"], env, log)


def stop(*processes: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (the graceful stop), then SIGKILL whatever is still running after timeout."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
