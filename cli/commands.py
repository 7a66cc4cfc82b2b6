"""`thumbnails submit` and `thumbnails status`: the client side, with clear exit codes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from cli.client import ApiClient, ApiError, ClientError, Unreachable
from core.formats import extension_for

EXIT_OK = 0
EXIT_REFUSED = 1  # the api refused the upload, the job failed, or there is no such job
EXIT_USAGE = 2  # bad arguments or an unreadable input file (argparse's own code too)
EXIT_UNREACHABLE = 3  # nothing answers at the URL, or the service is unavailable
EXIT_TIMEOUT = 4  # the job did not finish in time; it may still finish later
FIRST_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 1.0
SPINNER = "|/-\\"
FINISHED = ("complete", "failed", "cancelled")


def submit(client: ApiClient, image: Path | None, output: Path | None, timeout: float,
           fields: dict[str, str] | None = None) -> int:
    """Upload (or, without an image, name the source_url or source in `fields`), wait for the
    job, write the (first) thumbnail; say on stderr why when it fails."""
    data = b""
    if image is not None:
        try:
            data = image.read_bytes()
        except OSError as error:
            return _fail(f"cannot read {image}: {error.strerror or error}", EXIT_USAGE)
    try:
        job = client.submit(image.name, data, fields) if image is not None else client.submit_source(fields or {})
        job = _wait(client, job, timeout)
        if job["status"] not in FINISHED:
            return _fail(f"gave up waiting after {timeout:g} s; the job is {job['status']}. "
                         f"Check later with: thumbnails status {job['id']}", EXIT_TIMEOUT)
        if job["status"] != "complete":
            return _fail(f"job {job['id']} {job['status']}: {job.get('message')} ({job.get('code')})", EXIT_REFUSED)
        thumbnail, content_type = client.download(job, 0)
    except ClientError as error:
        return _fail_for(error)
    name = f"{image.stem if image is not None else job['id']}.thumbnail{extension_for(content_type)}"
    target = output or (image.with_name(name) if image is not None else Path(name))
    try:
        target.write_bytes(thumbnail)
    except OSError as error:
        return _fail(f"cannot write {target}: {error.strerror or error}", EXIT_USAGE)
    print(f"{target} ({content_type}, job {job['id']})")
    for extra in job.get("outputs", [])[1:]:
        url = extra.get("signed_url") or extra["url"]  # the signed one opens without a key, in a browser too
        print(f"  also: {url} ({extra['format']}, {extra['width']}x{extra['height']} {extra['fit']})")
    return EXIT_OK


def status(client: ApiClient, job_id: str) -> int:
    try:
        job = client.job(job_id)
    except ClientError as error:
        return _fail_for(error)
    print(json.dumps(job, indent=2))
    return EXIT_OK


def _wait(client: ApiClient, job: dict, timeout: float) -> dict:
    """Poll until the job is complete or failed, or the time is up. A spinner only on a terminal."""
    show_progress = sys.stdout.isatty()
    started = time.monotonic()
    delay = FIRST_POLL_SECONDS
    for tick in range(sys.maxsize):
        elapsed = time.monotonic() - started
        if job["status"] in FINISHED or elapsed >= timeout:
            break
        if show_progress:
            print(f"\r{SPINNER[tick % len(SPINNER)]} job {job['id']} {job['status']} {elapsed:4.0f} s",
                  end="", flush=True)
        time.sleep(delay)
        delay = min(delay * 1.5, MAX_POLL_SECONDS)
        job = client.job(job["id"])
    if show_progress:
        print("\r\033[K", end="", flush=True)
    return job


def _fail_for(error: ClientError) -> int:
    if isinstance(error, Unreachable) or (isinstance(error, ApiError) and error.status >= 500):
        return _fail(str(error), EXIT_UNREACHABLE)
    if isinstance(error, ApiError) and error.status == 401:
        return _fail(f"refused (401): {error}. Pass --key or set THUMBNAILS_KEY", EXIT_REFUSED)
    if isinstance(error, ApiError) and error.status == 404:
        return _fail(f"not found: {error}", EXIT_REFUSED)
    if isinstance(error, ApiError):
        return _fail(f"refused ({error.status}): {error}", EXIT_REFUSED)
    return _fail(str(error), EXIT_REFUSED)


def _fail(message: str, code: int) -> int:
    print(f"thumbnails: {message}", file=sys.stderr)
    return code
