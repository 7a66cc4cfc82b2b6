"""`thumbnails-api` (or `python -m api`): serve the api under gunicorn with the project's settings."""

from __future__ import annotations

import sys
from pathlib import Path

from gunicorn.app.wsgiapp import run

CONFIG = Path(__file__).with_name("gunicorn.conf.py")


def main(argv: list[str] | None = None) -> None:
    """Extra arguments go to gunicorn (e.g. --bind 127.0.0.1:8080)."""
    sys.argv = ["thumbnails-api", "--config", str(CONFIG), *(sys.argv[1:] if argv is None else argv), "api.wsgi:app"]
    run()


if __name__ == "__main__":
    main()
