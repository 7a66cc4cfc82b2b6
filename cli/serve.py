"""`thumbnails serve`: the api under gunicorn and N thumbnailer processes, under the one
supervisor of `processes.supervisor` (its policy: restarts with back-off, a crash loop or the
api's death stops everything, children die with it).

The port (and THUMBNAILER_METRICS_PORT, where this process serves the thumbnailers' metrics
summed: processes.metrics) is bound here before anything starts, so a port already in use is
refused with exit code 2 before any banner. Children run in a session of their own, so a
Ctrl-C reaches only this supervisor, which sends each child one SIGTERM: thumbnailers finish
the job in hand, gunicorn drains its requests. Anything unfinished stays in the queue for the next start.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import core
import storage
from core.keys import new_key
from processes import ports, programs
from processes.metrics import SharedMetrics
from processes.supervisor import Supervisor, printer
from processes.waiting import answers, wait_until

KEYS_FILE_NAME = "api-keys"
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 40  # above gunicorn's graceful_timeout (30 s)
EXIT_PORT_IN_USE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it

say = printer("thumbnails")


class Serve:
    def __init__(self, settings: core.Settings, environ: Mapping[str, str], host: str, port: int,
                 thumbnailers: int):
        self.settings = settings
        self.host = host
        self.port = port
        self.thumbnailers = thumbnailers
        # Children get the resolved URLs, so they agree on one data folder whatever their cwd.
        self.environ = dict(environ, STORAGE_URL=settings.storage_url, QUEUE_URL=settings.queue_url,
                            JOBS_URL=settings.jobs_url or "objects")
        self.new_key: str | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}"

    def run(self) -> int:
        """Refuse a taken port; start everything; announce once ready; watch until a signal
        (exit 0) or a failure (exit 1); stop everything."""
        try:
            listener = ports.listen(self.host, self.port)
        except ports.PortInUse as error:
            say(f"{error}; is another server running there? Stop it or choose another --port")
            return EXIT_PORT_IN_USE
        with contextlib.ExitStack() as stack:
            stack.enter_context(listener)
            metrics = None
            if self.settings.metrics_port:
                try:
                    metrics = stack.enter_context(SharedMetrics(self.settings.metrics_port, self.host))
                except ports.PortInUse as error:
                    say(f"{error}; choose another THUMBNAILER_METRICS_PORT")
                    return EXIT_PORT_IN_USE
            try:
                return self._serve(listener, metrics)
            except KeyboardInterrupt:  # only before the supervisor takes the signals, or after: nothing runs
                say("interrupted")
                return EXIT_INTERRUPTED

    def _serve(self, listener: socket.socket, metrics: SharedMetrics | None) -> int:
        self._prepare_backends()
        self._prepare_keys()
        children = [programs.api(self.environ, listener),
                    *programs.thumbnailers(self.environ, self.thumbnailers, metrics.folder if metrics else "")]
        supervisor = Supervisor(children, stop_grace=STOP_TIMEOUT_SECONDS, say=say,
                                on_death=metrics.process_died if metrics else None)
        with supervisor:
            listener.close()  # gunicorn has its own copy; ours would hold connections while it drains
            if self._wait_until_ready(supervisor):
                self._announce()
            code = supervisor.watch()
            if not supervisor.failure:
                say("stopping (thumbnailers finish the job in hand)")
        return 1 if supervisor.killed else code

    def _wait_until_ready(self, supervisor: Supervisor) -> bool:
        """Until the api answers /readyz; False if a signal or a failure comes first."""
        try:
            wait_until(lambda: supervisor.poll() or answers(f"{self.url}/readyz"), READY_TIMEOUT_SECONDS,
                       interval=0.2, description="the api's readiness")
        except TimeoutError:
            say(f"the api is not ready after {READY_TIMEOUT_SECONDS} s; see its log above")
            supervisor.failure = "the api never became ready"
            return False
        return not supervisor.finished

    def _prepare_backends(self) -> None:
        """Create the bucket/folder and queue once, before several processes race to."""
        try:
            storage.connect(self.settings).ensure()
        except core.TransientError as error:
            say(f"storage not reachable yet ({error}); starting anyway")

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
              f"  thumbnailers {self.thumbnailers}", flush=True)
        print(key_line, end="", file=sys.stderr, flush=True)  # not on stdout, where the JSON logs go
        print(f"  upload page  {self.url}/\n"
              f'  try          curl -H "Authorization: Bearer $THUMBNAILS_KEY" -F image=@photo.jpg {self.url}/jobs\n'
              f"  or           thumbnails submit photo.jpg --url {self.url}\n"
              "Ctrl-C stops everything.\n", flush=True)
