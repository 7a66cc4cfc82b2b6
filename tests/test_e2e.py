"""End to end, as a user's curl would: gunicorn api + thumbnailer process, driven over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

import storage
from tests import images
from tests.conftest import RUN_ID
from tests.processes import free_port, wait_until_up


@pytest.fixture(scope="module")
def service(bucket_name):
    """The whole service on loopback, with its own queue; stopped and cleaned up afterwards."""
    port = free_port()
    env = dict(os.environ, STORAGE_URL=f"s3://{bucket_name}", QUEUE_URL=f"sqs://{RUN_ID}-e2e", PORT=str(port),
               WEB_CONCURRENCY="2")
    api = subprocess.Popen([sys.executable, "-m", "api", "--bind", f"127.0.0.1:{port}"], env=env)
    thumbnailer = subprocess.Popen([sys.executable, "-m", "thumbnailer"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/readyz", api)
        yield {"url": base, "api": api, "thumbnailer": thumbnailer}
    finally:
        for process in (thumbnailer, api):
            process.terminate()
        for process in (thumbnailer, api):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        queue = storage.connect(storage.Settings.from_env(env)).queue
        queue.delete_queue()


def submit(service, data: bytes, filename: str) -> requests.Response:
    return requests.post(f"{service['url']}/jobs", files={"image": (filename, data)}, timeout=30)


def poll_until_done(url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(url, timeout=5).json()
        if job["status"] in ("complete", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{url} still {job['status']} after {timeout} s")


def round_trip(service, data: bytes, filename: str):
    accepted = submit(service, data, filename)
    assert accepted.status_code == 202, accepted.text
    job = poll_until_done(accepted.headers["Location"])
    assert job["status"] == "complete", job
    download = requests.get(job["location"], timeout=5)
    assert download.status_code == 200
    return download, images.decode(download.content)


# input, filename, expected thumbnail size, content type, mode
CASES = {
    "jpeg": (lambda: images.jpeg(400, 200), "photo.jpg", (100, 50), "image/jpeg", "RGB"),
    "png-alpha": (lambda: images.png_with_alpha(300, 150), "logo.png", (100, 50), "image/png", "RGBA"),
    "exif-rotated": (lambda: images.jpeg(400, 200, orientation=6), "phone.jpg", (50, 100), "image/jpeg", "RGB"),
    "cmyk-jpeg": (lambda: images.jpeg(400, 200, mode="CMYK"), "print.jpg", (100, 50), "image/jpeg", "RGB"),
    "palette-gif": (lambda: images.palette_gif(250, 125), "anim.gif", (100, 50), "image/jpeg", "RGB"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(service, case):
    make, filename, size, content_type, mode = CASES[case]
    download, thumbnail = round_trip(service, make(), filename)
    assert download.headers["Content-Type"] == content_type
    assert (thumbnail.size, thumbnail.mode) == (size, mode)


def test_exif_rotation_puts_the_left_edge_on_top(service):
    _, thumbnail = round_trip(service, images.jpeg(400, 200, orientation=6), "phone.jpg")
    top, bottom = thumbnail.getpixel((25, 10)), thumbnail.getpixel((25, 90))
    assert images.colour_distance(top, images.RED) < 60 and images.colour_distance(bottom, images.BLUE) < 60


def test_garbage_and_bombs_get_clear_errors_and_the_service_stays_up(service):
    garbage = submit(service, b"\x00\x01garbage" * 100, "x.jpg")
    assert garbage.status_code == 415 and garbage.json()["message"]
    bomb = submit(service, images.png_bomb(), "bomb.png")
    assert bomb.status_code == 413 and "pixels" in bomb.json()["message"]
    assert service["api"].poll() is None and service["thumbnailer"].poll() is None
    round_trip(service, images.jpeg(), "after.jpg")


def test_unknown_job_is_404_over_http(service):
    response = requests.get(f"{service['url']}/jobs/00000000-0000-4000-8000-000000000000", timeout=5)
    assert response.status_code == 404 and response.json()["error"] == "Not Found"
