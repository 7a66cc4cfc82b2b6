"""`thumbnailer` (or `python -m thumbnailer`): run one worker until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import storage
import storage.logs
from thumbnailer import metrics
from thumbnailer.worker import Worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thumbnailer", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    args = parser.parse_args(argv)
    storage.logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        settings = storage.Settings.from_env(os.environ)
    except storage.ConfigurationError as error:
        print(f"thumbnailer: {error}", file=sys.stderr)
        return 2
    backends = storage.connect(settings)
    try:
        backends.ensure()
    except storage.TransientError as error:
        logging.getLogger(__name__).warning("storage not reachable at start-up: %s", error)
    metrics.serve(settings.metrics_port)
    Worker(backends, settings).work(burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
