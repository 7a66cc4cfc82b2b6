"""`thumbnailer` (or `python -m thumbnailer`): run the thumbnailer until SIGTERM.

THUMBNAILER_PROCESSES processes (default: one per core) under a supervisor; with one,
the worker runs in this process.
"""

from __future__ import annotations

import argparse
import os
import sys

import core.logs
from thumbnailer.pool import Supervisor, run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thumbnailer", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="one process; stop once the queue is empty")
    args = parser.parse_args(argv)
    log_level = os.environ.get("LOG_LEVEL", "INFO")
    core.logs.configure(log_level)
    try:
        settings = core.Settings.from_env(os.environ)
    except core.ConfigurationError as error:
        print(f"thumbnailer: {error}", file=sys.stderr)
        return 2
    if args.burst or settings.processes == 1:
        run_worker(settings, log_level, burst=args.burst)
        return 0
    return Supervisor(settings, log_level).run()


if __name__ == "__main__":
    sys.exit(main())
