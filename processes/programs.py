"""The service's programs as a supervisor runs them: the api and thumbnailer processes."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping

from processes.metrics import MULTIPROC_VARIABLE
from processes.supervisor import Program


def api(environ: Mapping[str, str], listener: socket.socket) -> Program:
    """gunicorn on the given socket; essential: the service stops if it dies."""
    fd = listener.fileno()
    # `thumbnails api` rather than `python -m api`: it adds the orphan check where the kernel's
    # death signal is not available (the api itself knows nothing of supervisors).
    return Program("api", [sys.executable, "-m", "cli", "api", "--bind", f"fd://{fd}"], environ, essential=True,
                   pass_fds=(fd,))


def thumbnailers(environ: Mapping[str, str], count: int, metrics_folder: str = "") -> list[Program]:
    """count one-process thumbnailers, restarted when they die. With metrics_folder, each keeps
    its metrics there (prometheus_client's multiprocess mode) for the supervisor to serve on one
    port (processes.metrics); none serves a port of its own."""
    programs = []
    for number in range(1, count + 1):
        child = {key: value for key, value in environ.items()
                 if key not in ("THUMBNAILER_METRICS_PORT", MULTIPROC_VARIABLE)}
        child["THUMBNAILER_PROCESSES"] = "1"  # the worker runs in the child itself
        if metrics_folder:
            child[MULTIPROC_VARIABLE] = metrics_folder
        programs.append(Program(f"thumbnailer-{number}", [sys.executable, "-m", "thumbnailer"], child))
    return programs
