"""`thumbnails jobs`, `cancel`, `download` (clients of the api) and `migrate`, `import-jobs`
(operator commands that open the job store named by the environment)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli.client import ApiClient, ClientError
from cli.commands import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, _fail, _fail_for

COMMANDS = ("jobs", "cancel", "download", "migrate", "import-jobs")
STATUSES = ("pending", "processing", "complete", "failed", "cancelled")
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
              "image/avif": ".avif", "image/tiff": ".tiff"}
DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_commands(commands, default_url: str, default_key: str | None) -> None:
    def client_options(parser):
        parser.add_argument("--url", default=default_url, help="the api's URL (default $THUMBNAILS_URL or %(default)s)")
        parser.add_argument("--key", default=default_key, help="the API key (default $THUMBNAILS_KEY)")

    jobs = commands.add_parser("jobs", help="list your jobs, newest first")
    jobs.add_argument("--status", action="append", choices=STATUSES, help="only these (repeatable)")
    jobs.add_argument("--priority", choices=["high", "normal", "low"])
    jobs.add_argument("--since", type=_moment, help="submitted since: 2026-11-28T09:00Z, or an age: 30m, 2h, 7d")
    jobs.add_argument("--until", type=_moment, help="submitted before (same forms as --since)")
    jobs.add_argument("--limit", type=int, default=50, help="jobs per page, 1-500 (default %(default)s)")
    jobs.add_argument("--all", action="store_true", help="every page, not just the first")
    jobs.add_argument("--cursor", help="start after this page (printed at the end of a page)")
    client_options(jobs)

    cancel = commands.add_parser("cancel", help="cancel a pending or processing job; delete a finished one")
    cancel.add_argument("job_id")
    client_options(cancel)

    download = commands.add_parser("download", help="write a finished job's output N (default 0) to a file")
    download.add_argument("job_id")
    download.add_argument("index", nargs="?", type=int, default=0)
    download.add_argument("-o", "--output", type=Path, help="where to write it (default JOB_ID-N.EXT here)")
    client_options(download)

    commands.add_parser("migrate", help="bring the job database (JOBS_URL) to the newest schema")
    importer = commands.add_parser("import-jobs", help="copy job documents from the object store (STORAGE_URL) "
                                                       "into the job database (JOBS_URL); safe to repeat")
    importer.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args, environ) -> int:
    if args.command == "migrate":
        return migrate(environ)
    if args.command == "import-jobs":
        from cli.importer import import_jobs

        return import_jobs(environ, progress=not args.quiet)
    client = ApiClient(args.url, args.key)
    try:
        if args.command == "jobs":
            return list_jobs(client, args)
        if args.command == "cancel":
            return cancel(client, args.job_id)
        return download(client, args.job_id, args.index, args.output)
    except ClientError as error:
        return _fail_for(error)


def list_jobs(client: ApiClient, args) -> int:
    cursor, shown = args.cursor, 0
    while True:
        page = client.jobs(status=args.status, priority=args.priority, limit=args.limit, cursor=cursor,
                           since=_iso(args.since), until=_iso(args.until))
        for job in page["jobs"]:
            print(_line(job))
            shown += 1
        cursor = page.get("next")
        if not cursor or not args.all:
            break
    if shown == 0:
        print("no jobs", file=sys.stderr)
    if cursor:
        print(f"more: thumbnails jobs --cursor {cursor} (or --all)", file=sys.stderr)
    return EXIT_OK


def _line(job: dict) -> str:
    status = "expired" if job.get("expired") else job["status"]
    message = "" if job["status"] in ("complete", "pending") else f"  {job.get('code')} {job.get('message')}"
    return f"{job['id']}  {status:<10} {job.get('priority', 'normal'):<6} {job['start']}{message}"


def cancel(client: ApiClient, job_id: str) -> int:
    job = client.cancel(job_id)
    print(f"job {job_id} deleted" if job is None else f"job {job_id} {job['status']}")
    return EXIT_OK


def download(client: ApiClient, job_id: str, index: int, output: Path | None) -> int:
    """By the output's signed URL (the job document names it), else with the key (which also
    explains a job that is not complete)."""
    data, content_type = client.download(client.job(job_id), index)
    target = output or Path(f"{job_id}-{index}{EXTENSIONS.get(content_type, '.img')}")
    try:
        target.write_bytes(data)
    except OSError as error:
        return _fail(f"cannot write {target}: {error.strerror or error}", EXIT_USAGE)
    print(f"{target} ({content_type}, {len(data)} bytes)")
    return EXIT_OK


def migrate(environ) -> int:
    import core
    import storage
    from storage import database

    try:
        settings = core.Settings.from_env(environ)
        if settings.jobs_backend == "objects":
            print("job records are documents in the object store (JOBS_URL=objects): nothing to migrate")
            return EXIT_OK
        changed = database.migrate(settings.jobs_url)
        for queue in storage.connect(settings).queues:
            queue.ensure()
    except core.ThumbnailsError as error:
        return _fail(str(error), EXIT_REFUSED)
    print(f"{database.safe_url(settings.jobs_url)}: schema {database.head_revision()} "
          f"({'migrated' if changed else 'already up to date'})")
    return EXIT_OK


def _moment(text: str) -> datetime:
    """An ISO 8601 time (UTC unless it says otherwise) or an age such as 30m, 2h, 7d."""
    match = DURATION.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a time (2026-11-28T09:00Z) nor an age (2h)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
