"""One Prometheus endpoint for a supervisor's thumbnailers, however many it runs.

prometheus_client's multiprocess mode: each child, given PROMETHEUS_MULTIPROC_DIR, keeps its
counters and histograms in files of its own in that folder; the supervisor, which renders nothing,
sums the files of every child at scrape time. One port and one scrape target per pod or
container, whatever THUMBNAILER_PROCESSES is. A dead child's counts stay in the sum, so a
counter never goes back when a child is restarted; `process_died` drops its live gauges.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, multiprocess, start_http_server

from processes.ports import PortInUse

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class SharedMetrics:
    """A folder of its own for the children's metric files, and the HTTP server that sums them
    on `port`; both go with the context (the server is stopped, the folder removed)."""

    def __init__(self, port: int, host: str = "0.0.0.0"):
        self.port = port
        self.host = host
        self.folder = ""
        self._server: WSGIServer | None = None

    def __enter__(self) -> SharedMetrics:
        self.folder = tempfile.mkdtemp(prefix="thumbnailer-metrics-")
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.folder)
        try:
            self._server, _ = start_http_server(self.port, addr=self.host, registry=registry)
        except OSError as error:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise PortInUse(f"cannot serve the thumbnailers' metrics on port {self.port} of {self.host}: "
                            f"{error.strerror or error}") from error
        return self

    def environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """A child's environment: its metrics go to this folder."""
        return dict(environ, **{MULTIPROC_VARIABLE: self.folder})

    def process_died(self, pid: int) -> None:
        multiprocess.mark_process_dead(pid, path=self.folder)

    def __exit__(self, *exc_info) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)
