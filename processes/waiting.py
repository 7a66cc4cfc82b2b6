"""Waiting for a condition, for an HTTP endpoint to answer, and for processes to stop.

One copy of each, used by `thumbnails serve`, the benchmarks' stack and the tests: bounded
waits that poll a condition instead of sleeping a fixed time.
"""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.1
HTTP_TIMEOUT_SECONDS = 2.0


class ProcessExited(RuntimeError):
    """A process that was meant to come up exited while we waited for it."""


def wait_until(predicate: Callable[[], T | None], timeout: float, interval: float = POLL_SECONDS,
               description: str = "the condition") -> T:
    """Call predicate until it returns something truthy, and return that; TimeoutError after
    timeout seconds. An exception from predicate ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:g} s for {description}, in vain")
        time.sleep(interval)


def answers(url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> bool:
    """True if a GET of url answers 2xx; False if nothing answers yet or it answers an error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return False


def wait_for_http(url: str, timeout: float = 60, processes: Iterable[subprocess.Popen] = (),
                  interval: float = 0.2) -> None:
    """Until url answers 2xx; ProcessExited as soon as one of the processes serving it exits."""
    watched = list(processes)

    def ready() -> bool:
        for process in watched:
            if process.poll() is not None:
                raise ProcessExited(f"{process.args!r} exited with {process.returncode} before {url} answered")
        return answers(url)

    wait_until(ready, timeout, interval, f"an answer from {url}")


def stop(*processes: subprocess.Popen, grace: float | None = 30) -> list[subprocess.Popen]:
    """SIGTERM (the graceful stop) to each one still running, then SIGKILL whatever has not
    exited grace seconds later (None: wait as long as they take). Returns the killed ones."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = None if grace is None else time.monotonic() + grace
    killed = []
    for process in processes:
        try:
            process.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed.append(process)
    return killed
