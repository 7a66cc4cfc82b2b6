"""Starting the service's real processes (gunicorn api, thumbnailers) for tests; waiting for
them and stopping them is `processes.waiting`, as everywhere else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from processes.ports import free_port
from processes.waiting import stop, wait_for_http

__all__ = ["free_port", "start_api", "start_thumbnailer", "stop", "wait_until_up"]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    wait_for_http(url, timeout, [process])


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
