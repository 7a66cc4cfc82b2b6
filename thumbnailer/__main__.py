"""`thumbnailer` (or `python -m thumbnailer`): run the thumbnailer until SIGTERM.

THUMBNAILER_PROCESSES processes (default: one per CPU) under the supervisor of
`processes.supervisor`, each a `thumbnailer` of one process; with one, the worker runs in
this process. Processes, not threads: rendering holds a core. THUMBNAILER_METRICS_PORT is one
endpoint whatever the count: the supervisor serves all its children's metrics summed
(processes.metrics).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

import core.logs
import storage
from processes import programs
from processes.children import stop_when_orphaned
from processes.metrics import SharedMetrics
from processes.ports import PortInUse
from processes.supervisor import EXIT_DO_NOT_RESTART, Supervisor
from storage.access import check_access

log = logging.getLogger("thumbnailer")


def run_worker(settings: core.Settings, burst: bool = False) -> None:
    """One thumbnailer process: its own clients, its own loop, its metrics port if one is set."""
    from thumbnailer import metrics
    from thumbnailer.worker import Worker

    stop_when_orphaned()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    backends = storage.connect(settings)
    try:
        try:
            backends.ensure()
            check_access(backends, receives=True)
        except core.PermissionDenied:
            raise
        except core.TransientError as error:
            log.warning("storage not reachable at start-up: %s", error)
        Worker(backends, settings).work(burst=burst)
    except core.PermissionDenied as error:
        # Waiting would not help: the policy lacks an action. Stop, naming it.
        log.error("thumbnailer stopped: %s", error, extra={"action": error.action})
        raise SystemExit(EXIT_DO_NOT_RESTART) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thumbnailer", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="one process; stop once the queue is empty")
    args = parser.parse_args(argv)
    core.logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        settings = core.Settings.from_env(os.environ)
    except core.ConfigurationError as error:
        print(f"thumbnailer: {error}", file=sys.stderr)
        return 2
    if args.burst or settings.processes == 1:
        run_worker(settings, burst=args.burst)
        return 0
    with contextlib.ExitStack() as stack:
        metrics = None
        if settings.metrics_port:
            try:
                metrics = stack.enter_context(SharedMetrics(settings.metrics_port))
            except PortInUse as error:
                log.error("thumbnailer stopped: %s", error)
                return 1
        children = programs.thumbnailers(os.environ, settings.processes, metrics.folder if metrics else "")
        log.info("supervising %d thumbnailer processes", len(children))
        # No time limit on the stop: each child finishes the job in hand (an orchestrator's own
        # grace period, then SIGKILL, bounds it; the children then get SIGTERM from the kernel).
        return Supervisor(children, stop_grace=None, say=log.warning,
                          on_death=metrics.process_died if metrics else None).run()


if __name__ == "__main__":
    sys.exit(main())
