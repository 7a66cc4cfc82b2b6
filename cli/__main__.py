"""`thumbnails` (or `python -m cli`): serve, submit, status, jobs, cancel, download, api, worker, ..."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import core
from cli import history
from core import priorities

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PORT = 8000
DEFAULT_THUMBNAILERS = 2
DEFAULT_WAIT_SECONDS = 120


def build_parser(environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thumbnails", description="An asynchronous image-thumbnail service.",
        epilog="With no STORAGE_URL and QUEUE_URL set, everything runs on embedded backends under "
               "DATA_DIR (default ./data).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the api and thumbnailers until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=environ.get("PORT") or str(DEFAULT_PORT),
                       help="port of the api (default $PORT or %(default)s)")
    serve.add_argument("-w", "--thumbnailers", type=_not_negative, default=DEFAULT_THUMBNAILERS,
                       help="thumbnailer processes (default %(default)s; 0 runs the api alone)")

    url_help = "the api's URL (default $THUMBNAILS_URL or %(default)s)"
    default_url = environ.get("THUMBNAILS_URL") or DEFAULT_URL
    key_help = "the API key (default $THUMBNAILS_KEY)"
    default_key = environ.get("THUMBNAILS_KEY")
    submit = commands.add_parser("submit", help="upload an image (or name one by URL or key), wait, "
                                                "write its thumbnail")
    submit.add_argument("image", type=Path, nargs="?", help="the image file (or give --source-url or --source)")
    submit.add_argument("-o", "--output", type=Path, help="where to write the thumbnail "
                        "(default: beside the image, as NAME.thumbnail.jpg, .png, .webp, .avif or .gif; "
                        "for a source, JOB_ID.thumbnail.EXT here)")
    submit.add_argument("--source-url", metavar="URL", help="the service fetches the image from this http(s) URL")
    submit.add_argument("--source", metavar="S3_URL", help="the service reads the image from s3://bucket/key "
                        "(a bucket in its SOURCE_BUCKETS)")
    submit.add_argument("--url", default=default_url, help=url_help)
    submit.add_argument("--key", default=default_key, help=key_help)
    submit.add_argument("--outputs", metavar="JSON",
                        help='output specs, e.g. \'[{"format": "webp", "size": "300,300", "fit": "cover"}]\'')
    submit.add_argument("--priority", choices=priorities.PRIORITIES,
                        help=f"the job's queue (default {priorities.DEFAULT})")
    submit.add_argument("--callback-url", help="POST the finished job here (signed webhook)")
    submit.add_argument("--url-ttl", type=int, metavar="SECONDS",
                        help="how long the outputs' signed URLs work after completion (default: the server's)")
    submit.add_argument("--wait", type=float, default=DEFAULT_WAIT_SECONDS,
                        help="seconds to wait for the job (default %(default)s)")

    status = commands.add_parser("status", help="print a job as JSON")
    status.add_argument("job_id")
    status.add_argument("--url", default=default_url, help=url_help)
    status.add_argument("--key", default=default_key, help=key_help)

    history.add_commands(commands, default_url, default_key)

    keys = commands.add_parser("keys", help="make API keys, show webhook signing secrets (see thumbnails-keys)")
    keys.add_argument("action", choices=["create", "webhook-secret"])
    keys.add_argument("owner")
    keys.add_argument("--file", help="append the key's hash record to this file (else print it)")

    commands.add_parser("api", help="run only the api under gunicorn (other arguments go to gunicorn)")
    worker = commands.add_parser("worker", help="run one thumbnailer until SIGTERM")
    worker.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    return parser


def main(argv: list[str] | None = None, environ=None) -> int:
    environ = os.environ if environ is None else environ
    parser = build_parser(environ)
    args, gunicorn_args = parser.parse_known_args(argv)
    if gunicorn_args and args.command != "api":
        parser.error(f"unrecognized arguments: {' '.join(gunicorn_args)}")
    if args.command in ("submit", "status"):
        from cli import commands
        from cli.client import ApiClient

        client = ApiClient(args.url, args.key)
        if args.command == "submit":
            if sum(value is not None for value in (args.image, args.source_url, args.source)) != 1:
                parser.error("submit needs exactly one of IMAGE, --source-url and --source")
            fields = {name: value for name, value in (("output", args.outputs), ("priority", args.priority),
                                                      ("callback_url", args.callback_url),
                                                      ("url_ttl_seconds", args.url_ttl and str(args.url_ttl)),
                                                      ("source_url", args.source_url), ("source", args.source))
                      if value}
            return commands.submit(client, args.image, args.output, args.wait, fields)
        return commands.status(client, args.job_id)
    if args.command in history.COMMANDS:
        return history.run(args, environ)
    if args.command == "keys":
        from cli.keys import main as keys_main

        return keys_main([args.action, args.owner, *(["--file", args.file] if args.file else [])])
    if args.command == "api":
        from api.__main__ import main as api_main
        from processes.children import stop_when_orphaned

        stop_when_orphaned()  # under `thumbnails serve`: drain and stop if it dies
        api_main(gunicorn_args)
        return 0
    if args.command == "worker":
        from thumbnailer.__main__ import main as worker_main

        return worker_main(["--burst"] if args.burst else [])
    return _serve(args, environ)


def _serve(args, environ) -> int:
    from cli.serve import Serve

    try:
        settings = core.Settings.from_env(environ)
    except core.ConfigurationError as error:
        print(f"thumbnails: {error}", file=sys.stderr)
        return 2
    return Serve(settings, environ, args.host, args.port, args.thumbnailers).run()


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


if __name__ == "__main__":
    sys.exit(main())
