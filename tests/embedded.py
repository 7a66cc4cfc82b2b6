"""`thumbnails serve` as a test's subprocess: on the embedded backends in its own data folder, by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from processes.ports import free_port
from processes.waiting import stop, wait_for_http

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60


def embedded_environ(data_dir: Path) -> dict[str, str]:
    """The test environment without the S3/SQS URLs testing.env sets: the embedded default applies."""
    environ = {key: value for key, value in os.environ.items() if key not in ("STORAGE_URL", "QUEUE_URL")}
    environ.update(DATA_DIR=str(data_dir), WEB_CONCURRENCY="2")
    return environ


class EmbeddedService:
    def __init__(self, data_dir: Path, thumbnailers: int = 1, port: int | None = None,
                 environ: dict[str, str] | None = None, log: Path | None = None):
        """log: where serve's output goes (default: the test's own output)."""
        self.environ = environ if environ is not None else embedded_environ(data_dir)
        self.log = log
        self.thumbnailers = thumbnailers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> EmbeddedService:
        command = [sys.executable, "-m", "cli", "serve", "--port", str(self.port),
                   "--thumbnailers", str(self.thumbnailers)]
        if self.log is None:
            self.process = subprocess.Popen(command, env=self.environ)
        else:
            with open(self.log, "w") as output:  # serve keeps its own copy of the descriptor
                self.process = subprocess.Popen(command, env=self.environ, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{self.url}/readyz", START_TIMEOUT_SECONDS, [self.process])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or an orchestrator would; return serve's exit code."""
        assert self.process is not None
        if stop(self.process, grace=STOP_TIMEOUT_SECONDS):
            raise AssertionError("thumbnails serve did not stop after SIGTERM")
        return self.process.returncode

    def __enter__(self) -> EmbeddedService:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


