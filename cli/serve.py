"""`thumbnails serve`: the api under gunicorn and N thumbnailer processes, stopped together.

Children run in their own process group, so a Ctrl-C reaches only this supervisor, which
then sends each child one SIGTERM: thumbnailers finish the job in hand, gunicorn drains its
requests. Anything unfinished stays in the queue and is picked up on the next start.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import core
import storage
from core.keys import new_key

KEYS_FILE_NAME = "api-keys"
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 40  # above gunicorn's graceful_timeout (30 s)
WATCH_INTERVAL_SECONDS = 0.2

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, settings: core.Settings, environ: Mapping[str, str], host: str, port: int,
                 thumbnailers: int):
        self.settings = settings
        self.host = host
        self.port = port
        self.thumbnailers = thumbnailers
        # Children get the resolved URLs, so they agree on one data folder whatever their cwd.
        # Each thumbnailer child is one process: serve itself supervises them.
        self.environ = dict(environ, STORAGE_URL=settings.storage_url, QUEUE_URL=settings.queue_url,
                            JOBS_URL=settings.jobs_url or "objects", THUMBNAILER_PROCESSES="1")
        self.new_key: str | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self._stop_signal: int | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}"

    def run(self) -> int:
        """Start everything, wait for a signal or for a child to die, stop everything."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._prepare_backends()
            self._prepare_keys()
            self._start("api", [sys.executable, "-m", "api", "--bind", f"{self.host}:{self.port}"])
            for number in range(1, self.thumbnailers + 1):
                self._start(f"thumbnailer-{number}", [sys.executable, "-m", "thumbnailer"])
            if self._wait_until_ready():
                self._announce()
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _request_stop(self, signum, frame) -> None:
        self._stop_signal = signum

    def _prepare_backends(self) -> None:
        """Create the bucket/folder and queue once, before several processes race to."""
        try:
            storage.connect(self.settings).ensure()
        except core.TransientError as error:
            print(f"thumbnails: storage not reachable yet ({error}); starting anyway", file=sys.stderr)

    def _prepare_keys(self) -> None:
        """Closed by default, yet usable at once: with no keys configured, make one for 'local'
        (its hash in DATA_DIR/api-keys; the key itself is printed once)."""
        if self.settings.api_keys or self.settings.api_keys_file or self.settings.allow_anonymous:
            return
        keys_file = Path(self.settings.data_dir) / KEYS_FILE_NAME
        self.environ["API_KEYS_FILE"] = str(keys_file)
        if keys_file.is_file() and keys_file.stat().st_size:
            return
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        self.new_key, record = new_key("local")
        keys_file.write_text(record.line() + "\n")

    def _start(self, name: str, command: list[str]) -> None:
        self.processes[name] = subprocess.Popen(command, env=self.environ, start_new_session=True)

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self._stop_signal is None and not self._exited():
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                time.sleep(WATCH_INTERVAL_SECONDS)
        if self._stop_signal is None and not self._exited():
            print(f"thumbnails: the api is not ready after {READY_TIMEOUT_SECONDS} s; see its log above",
                  file=sys.stderr)
        return False

    def _announce(self) -> None:
        keys = self.environ.get("API_KEYS_FILE", "API_KEYS")
        if self.new_key:
            key_line = (f"  API key      {self.new_key}\n"
                        f"               (owner 'local'; shown once, only its hash is kept in {keys})\n"
                        f"  export THUMBNAILS_KEY={self.new_key}\n")
        else:
            key_line = f"  API keys     from {keys}; make another: thumbnails keys create NAME --file {keys}\n"
        print(f"\nthumbnails: serving on {self.url}\n"
              f"  storage      {self.settings.storage_url}\n"
              f"  queue        {self.settings.queue_url}\n"
              f"  thumbnailers {self.thumbnailers}\n"
              f"{key_line}"
              f"  upload page  {self.url}/\n"
              f'  try          curl -H "Authorization: Bearer $THUMBNAILS_KEY" -F image=@photo.jpg {self.url}/jobs\n'
              f"  or           thumbnails submit photo.jpg --url {self.url}\n"
              "Ctrl-C stops everything.\n", flush=True)

    def _exited(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def _watch(self) -> int:
        """0 when stopped by a signal, 1 when a component died on its own."""
        while self._stop_signal is None:
            if dead := self._exited():
                codes = ", ".join(f"{name} exited with {self.processes[name].returncode}" for name in dead)
                print(f"thumbnails: {codes}; stopping everything", file=sys.stderr)
                return 1
            time.sleep(WATCH_INTERVAL_SECONDS)
        print("thumbnails: stopping (thumbnailers finish the job in hand)", file=sys.stderr, flush=True)
        return 0

    def _stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"thumbnails: {name} did not stop in time; killing it", file=sys.stderr)
                process.kill()
                process.wait()
