"""The service's programs as a supervisor runs them: the api and thumbnailer processes."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping

from processes.supervisor import Program


def api(environ: Mapping[str, str], listener: socket.socket) -> Program:
    """gunicorn on the given socket; essential: the service stops if it dies."""
    fd = listener.fileno()
    # `thumbnails api` rather than `python -m api`: it adds the orphan check where the kernel's
    # death signal is not available (the api itself knows nothing of supervisors).
    return Program("api", [sys.executable, "-m", "cli", "api", "--bind", f"fd://{fd}"], environ, essential=True,
                   pass_fds=(fd,))


def thumbnailers(environ: Mapping[str, str], count: int, metrics_port: int = 0) -> list[Program]:
    """count one-process thumbnailers, restarted when they die. With metrics_port, thumbnailer-N
    serves its metrics on metrics_port + N - 1: one port each, so any count works."""
    programs = []
    for number in range(1, count + 1):
        child = {key: value for key, value in environ.items() if key != "THUMBNAILER_METRICS_PORT"}
        child["THUMBNAILER_PROCESSES"] = "1"  # the worker runs in the child itself
        if metrics_port:
            child["THUMBNAILER_METRICS_PORT"] = str(metrics_port + number - 1)
        programs.append(Program(f"thumbnailer-{number}", [sys.executable, "-m", "thumbnailer"], child))
    return programs
