"""`thumbnails serve` as a test's subprocess: on the embedded backends in its own data folder, by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.processes import free_port

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60


def embedded_environ(data_dir: Path) -> dict[str, str]:
    """The test environment without the S3/SQS URLs testing.env sets: the embedded default applies."""
    environ = {key: value for key, value in os.environ.items() if key not in ("STORAGE_URL", "QUEUE_URL")}
    environ.update(DATA_DIR=str(data_dir), WEB_CONCURRENCY="2")
    return environ


class EmbeddedService:
    def __init__(self, data_dir: Path, thumbnailers: int = 1, port: int | None = None,
                 environ: dict[str, str] | None = None):
        self.environ = environ if environ is not None else embedded_environ(data_dir)
        self.thumbnailers = thumbnailers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> EmbeddedService:
        command = [sys.executable, "-m", "cli", "serve", "--port", str(self.port),
                   "--thumbnailers", str(self.thumbnailers)]
        self.process = subprocess.Popen(command, env=self.environ)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"thumbnails serve exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).ok:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not listening, or still booting
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"thumbnails serve did not answer within {START_TIMEOUT_SECONDS} s")

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or an orchestrator would; return serve's exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("thumbnails serve did not stop after SIGTERM") from None

    def __enter__(self) -> EmbeddedService:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


