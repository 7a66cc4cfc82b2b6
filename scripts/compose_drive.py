#!/usr/bin/env python3
"""Drive a running thumbnails service over HTTP, as a user with curl would (scripts/compose-test.sh).

1. One job end to end: upload, poll until complete, download the thumbnail, decode it.
2. A backlog of --jobs uploads; once it is submitted, run --restart (restarting the
   thumbnailer while the backlog is being worked off); then every job must complete and every
   thumbnail must decode to an image that fits 100x100.
3. GET /jobs (job history, which the api answers from its job store: PostgreSQL in compose)
   must list every job submitted in 1 and 2, each complete, following its pages.

Exits 0 when all of that held, 1 (naming the job and what was wrong) when not. The key comes
from $THUMBNAILS_KEY. Every wait has a deadline, so a broken stack fails instead of hanging.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests
from PIL import Image

POLL_SECONDS = 1.0
MAX_RATE_LIMITED = 30
JOB_DEADLINE_SECONDS = 180
REQUEST_TIMEOUT_SECONDS = 30
THUMBNAIL_BOX = (100, 100)
BACKLOG_IMAGES = 4
SUBMIT_THREADS = 8
HISTORY_PAGE = 25  # small enough that the default backlog's history takes two pages
# Output 0 is the usual thumbnail; the others make each job cost the thumbnailer more.
BACKLOG_OUTPUTS = json.dumps([{"size": "100,100"}, {"size": "1200,1200", "format": "webp"}])


class Failure(Exception):
    """What the service did wrong, in a sentence."""


def image_bytes(number: int, size: tuple[int, int], image_format: str) -> bytes:
    """A distinct test image: a gradient with a block whose place depends on the number."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    block = (number * 37 % max(1, width - 50), number * 53 % max(1, height - 50))
    image.paste((200, 30, 30), (*block, block[0] + 50, block[1] + 50))
    out = io.BytesIO()
    image.save(out, image_format, **({"quality": 90} if image_format == "JPEG" else {}))
    return out.getvalue()


class Service:
    def __init__(self, url: str, key: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def submit(self, data: bytes, name: str, fields: dict | None = None) -> str:
        response = self.http.post(f"{self.url}/jobs", files={"image": (name, data)}, data=fields or {},
                                  timeout=REQUEST_TIMEOUT_SECONDS)
        if response.status_code != 202:
            raise Failure(f"upload of {name}: {response.status_code} {response.text[:200]}")
        return response.json()["id"]

    def get(self, path: str) -> requests.Response:
        """GET, waiting out the rate limit (429 + Retry-After) as a polite client does."""
        for _ in range(MAX_RATE_LIMITED):
            response = self.http.get(f"{self.url}{path}", timeout=REQUEST_TIMEOUT_SECONDS)
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After", "1")))
        raise Failure(f"GET {path}: still rate limited after {MAX_RATE_LIMITED} tries")

    def job(self, job_id: str) -> dict:
        response = self.get(f"/jobs/{job_id}")
        if response.status_code != 200:
            raise Failure(f"job {job_id}: {response.status_code} {response.text[:200]}")
        return response.json()

    def wait(self, job_ids: list[str], deadline: float) -> dict[str, dict]:
        """Poll until every job is finished; a job that failed is a failure."""
        finished: dict[str, dict] = {}
        while len(finished) < len(job_ids):
            for job_id in job_ids:
                if job_id in finished:
                    continue
                job = self.job(job_id)
                if job["status"] == "complete":
                    finished[job_id] = job
                elif job["status"] not in ("pending", "processing"):
                    raise Failure(f"job {job_id} ended {job['status']}: {job.get('code')} {job.get('message')}")
            if len(finished) < len(job_ids):
                if time.monotonic() > deadline:
                    raise Failure(f"{len(job_ids) - len(finished)} of {len(job_ids)} jobs not complete in time")
                time.sleep(POLL_SECONDS)
        return finished

    def check_thumbnail(self, job_id: str) -> None:
        response = self.get(f"/jobs/{job_id}/thumbnail")
        if response.status_code != 200:
            raise Failure(f"thumbnail of {job_id}: {response.status_code} {response.text[:200]}")
        thumbnail = Image.open(io.BytesIO(response.content))
        thumbnail.load()
        if thumbnail.width > THUMBNAIL_BOX[0] or thumbnail.height > THUMBNAIL_BOX[1] or min(thumbnail.size) < 1:
            raise Failure(f"thumbnail of {job_id} is {thumbnail.size}, not within {THUMBNAIL_BOX}")


def check_history(service: Service, job_ids: list[str]) -> int:
    """GET /jobs (the api answers it from the job store, PostgreSQL in compose) must list every job
    submitted, each complete; pages are followed through `next`. Returns the jobs listed."""
    listed: dict[str, str] = {}
    query = f"?limit={HISTORY_PAGE}"
    for _ in range(len(job_ids) // HISTORY_PAGE + 10):
        response = service.get(f"/jobs{query}")
        if response.status_code != 200:
            raise Failure(f"GET /jobs{query}: {response.status_code} {response.text[:300]}")
        page = response.json()
        for job in page["jobs"]:
            if job["id"] in listed:
                raise Failure(f"GET /jobs listed job {job['id']} twice")
            listed[job["id"]] = job["status"]
        if not page["next"]:
            break
        query = "?" + urlencode({"limit": HISTORY_PAGE, "cursor": page["next"]})
    else:
        raise Failure("GET /jobs: its pages did not end")
    missing = [job_id for job_id in job_ids if job_id not in listed]
    if missing:
        raise Failure(f"GET /jobs lists {len(listed)} jobs but not {len(missing)} of the {len(job_ids)} "
                      f"submitted, e.g. {missing[0]}")
    not_complete = {job_id: listed[job_id] for job_id in job_ids if listed[job_id] != "complete"}
    if not_complete:
        job_id, status = next(iter(not_complete.items()))
        raise Failure(f"GET /jobs shows {len(not_complete)} finished jobs not complete, e.g. {job_id}: {status}")
    return len(listed)


def statuses(service: Service, job_ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job_id in job_ids:
        status = service.job(job_id)["status"]
        counts[status] = counts.get(status, 0) + 1
    return counts


def run(args) -> None:
    service = Service(args.url, os.environ["THUMBNAILS_KEY"])
    ready = requests.get(f"{service.url}/readyz", timeout=REQUEST_TIMEOUT_SECONDS)
    if ready.status_code != 200:
        raise Failure(f"/readyz: {ready.status_code} {ready.text[:300]}")
    anonymous = requests.post(f"{service.url}/jobs", files={"image": ("a.jpg", b"x")}, timeout=REQUEST_TIMEOUT_SECONDS)
    if anonymous.status_code != 401:
        raise Failure(f"an upload without a key got {anonymous.status_code}, not 401")

    started = time.monotonic()
    job_id = service.submit(image_bytes(0, (1024, 768), "JPEG"), "first.jpg")
    service.wait([job_id], time.monotonic() + JOB_DEADLINE_SECONDS)
    service.check_thumbnail(job_id)
    print(f"one job: uploaded, complete, thumbnail downloaded in {time.monotonic() - started:.1f} s", flush=True)

    # Heavy jobs (a large PNG, a full decode, big outputs besides the thumbnail), submitted from
    # several threads, so that the backlog outlasts its submission and the restart lands in it.
    images = [image_bytes(n, (2800, 2100), "PNG") for n in range(BACKLOG_IMAGES)]
    started = time.monotonic()
    with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
        job_ids = list(pool.map(lambda n: service.submit(images[n % len(images)], f"backlog-{n}.png",
                                                         {"output": BACKLOG_OUTPUTS}), range(args.jobs)))
    before = statuses(service, job_ids)
    print(f"backlog: {args.jobs} jobs submitted in {time.monotonic() - started:.1f} s; at the restart: {before}",
          flush=True)
    if before.get("complete", 0) == len(job_ids):
        print("warning: the whole backlog was done before the restart; raise --jobs", flush=True)
    restart = subprocess.run(shlex.split(args.restart), capture_output=True, text=True)
    if restart.returncode != 0:
        raise Failure(f"{args.restart!r} failed: {restart.stderr.strip()}")
    print(f"thumbnailer restarted at {time.monotonic() - started:.1f} s", flush=True)
    finished = service.wait(job_ids, time.monotonic() + JOB_DEADLINE_SECONDS)
    for job_id in finished:
        service.check_thumbnail(job_id)
    print(f"backlog: all {len(finished)} jobs complete, every thumbnail fits {THUMBNAIL_BOX}, "
          f"in {time.monotonic() - started:.1f} s", flush=True)

    started = time.monotonic()
    listed = check_history(service, [job_id, *job_ids])
    print(f"history: GET /jobs lists all {1 + len(job_ids)} jobs submitted, complete ({listed} listed), "
          f"in {time.monotonic() - started:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the api, e.g. http://127.0.0.1:19800")
    parser.add_argument("--jobs", type=int, default=40, help="backlog size (default %(default)s)")
    parser.add_argument("--restart", required=True, help="the command that restarts the thumbnailer")
    args = parser.parse_args(argv)
    if "THUMBNAILS_KEY" not in os.environ:
        parser.error("set THUMBNAILS_KEY to an API key of the service")
    try:
        run(args)
    except (Failure, requests.RequestException) as error:
        print(f"compose_drive: FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
