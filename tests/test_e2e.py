"""End to end, as a user's curl would: gunicorn api + thumbnailer process, driven over HTTP,
on the real MinIO/ElasticMQ and on moto shaped like AWS under exactly the repo's IAM policy."""

from __future__ import annotations

import json
import os

import pytest
import requests

import core
import storage
from processes.waiting import wait_until
from tests import images
from tests.environment import ALICE, ALICE_KEY, BOB_KEY, RUN_ID
from tests.moto_server import ON_EACH_AWS_BACKEND
from tests.processes import free_port, start_api, start_thumbnailer, stop, wait_until_up
from tests.waiting import poll_until_finished

pytestmark = ON_EACH_AWS_BACKEND


@pytest.fixture(scope="module")
def service(aws_target, request, tmp_path_factory):
    """The whole service on loopback, with its own queue; stopped and cleaned up afterwards.
    On moto it runs as an IAM user allowed exactly deploy/iam-policy.json, nothing more."""
    port, metrics_port = free_port(), free_port()
    logs = tmp_path_factory.mktemp("logs")
    queue = f"{RUN_ID}-e2e-{aws_target.name}"
    env = dict(os.environ, **aws_target.environ, STORAGE_URL=f"s3://{aws_target.bucket}",
               QUEUE_URL=aws_target.queue_url(queue), PORT=str(port), WEB_CONCURRENCY="2",
               THUMBNAILER_METRICS_PORT=str(metrics_port), PYTHONUNBUFFERED="1",
               # Two processes, as a pod runs them: the metrics URL sums both (processes.metrics).
               THUMBNAILER_PROCESSES="2")
    if aws_target.name == "moto":
        moto_server = request.getfixturevalue("moto_server")
        env.update(moto_server.environ(moto_server.service_user(aws_target.bucket, queue)))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    api = start_api(env, port, logs / "api.log")
    thumbnailer = start_thumbnailer(env, logs / "thumbnailer.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/readyz", api)
        yield {"url": base, "api": api, "thumbnailer": thumbnailer, "logs": logs,
               "metrics": f"http://127.0.0.1:{metrics_port}/metrics"}
    finally:
        stop(thumbnailer, api)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in aws_target.environ.items():  # the test's own (admin) keys
                patch.setenv(name, value)
            for made in storage.connect(core.Settings.from_env(env)).queues:
                made.delete_queue()


def submit(service, data: bytes, filename: str) -> requests.Response:
    return requests.post(f"{service['url']}/jobs", files={"image": (filename, data)}, headers=ALICE, timeout=30)


def round_trip(service, data: bytes, filename: str):
    accepted = submit(service, data, filename)
    assert accepted.status_code == 202, accepted.text
    job = poll_until_finished(accepted.headers["Location"])
    assert job["status"] == "complete", job
    download = requests.get(job["location"], headers=ALICE, timeout=5)
    assert download.status_code == 200
    return download, images.decode(download.content)


# input, filename, expected thumbnail size, content type, mode
CASES = {
    "jpeg": (lambda: images.jpeg(400, 200), "photo.jpg", (100, 50), "image/jpeg", "RGB"),
    "png-alpha": (lambda: images.png_with_alpha(300, 150), "logo.png", (100, 50), "image/png", "RGBA"),
    "exif-rotated": (lambda: images.jpeg(400, 200, orientation=6), "phone.jpg", (50, 100), "image/jpeg", "RGB"),
    "cmyk-jpeg": (lambda: images.jpeg(400, 200, mode="CMYK"), "print.jpg", (100, 50), "image/jpeg", "RGB"),
    "palette-gif": (lambda: images.palette_gif(250, 125), "anim.gif", (100, 50), "image/jpeg", "RGB"),
    "heic": (lambda: images.heic(400, 200), "IMG_0001.HEIC", (100, 50), "image/jpeg", "RGB"),
    "avif": (lambda: images.avif(400, 200), "photo.avif", (100, 50), "image/jpeg", "RGB"),
    "mpo": (lambda: images.mpo(400, 200), "stereo.mpo", (100, 50), "image/jpeg", "RGB"),
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
    response = requests.get(f"{service['url']}/jobs/00000000-0000-4000-8000-000000000000", headers=ALICE,
                            timeout=5)
    assert response.status_code == 404 and response.json()["error"] == "Not Found"


def test_no_key_is_401_over_http(service):
    response = requests.get(f"{service['url']}/jobs/00000000-0000-4000-8000-000000000000", timeout=5)
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]


def test_delete_a_finished_job_over_http(service):
    accepted = submit(service, images.jpeg(), "photo.jpg")
    poll_until_finished(accepted.headers["Location"])
    assert requests.delete(accepted.headers["Location"], headers=ALICE, timeout=5).status_code == 204
    assert requests.get(accepted.headers["Location"], headers=ALICE, timeout=5).status_code == 404


def metric(text: str, name: str) -> float:
    """Sum of a metric's samples in Prometheus text format (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_move_as_jobs_are_submitted_and_finished(service):
    api_before = requests.get(f"{service['url']}/metrics", timeout=5).text
    worker_before = requests.get(service["metrics"], timeout=5).text
    round_trip(service, images.jpeg(), "counted.jpg")
    api_after = requests.get(f"{service['url']}/metrics", timeout=5).text
    worker_after = requests.get(service["metrics"], timeout=5).text
    accepted = "thumbnails_jobs_accepted_total"
    assert metric(api_after, accepted) == metric(api_before, accepted) + 1
    assert metric(api_after, "thumbnails_upload_bytes_count") > metric(api_before, "thumbnails_upload_bytes_count")
    assert "thumbnails_queue_depth" in api_after
    finished = "thumbnails_jobs_finished_total"
    assert metric(worker_after, finished) == metric(worker_before, finished) + 1
    assert metric(worker_after, "thumbnails_render_seconds_count") > metric(worker_before,
                                                                              "thumbnails_render_seconds_count")


def test_logs_are_json_lines_with_ids_and_never_the_key(service):
    accepted = submit(service, images.jpeg(), "logged.jpg")
    job_id = accepted.json()["id"]
    poll_until_finished(accepted.headers["Location"])
    requests.get(f"{service['url']}/jobs/{job_id}", headers={"X-Request-ID": "trace-me-42", **ALICE}, timeout=5)

    def logged_lines() -> list[str]:
        return [line for name in ("api.log", "thumbnailer.log")
                for line in (service["logs"] / name).read_text().splitlines()]

    def written(lines: list[str]) -> bool:  # the access line and the job's last line may trail the answers
        return any("trace-me-42" in line for line in lines) and any(job_id in line and "render_ms" in line
                                                                    for line in lines)

    lines = wait_until(lambda: (found := logged_lines()) and written(found) and found, 30,
                       description="the log lines")
    events = []
    for line in lines:
        assert ALICE_KEY not in line and BOB_KEY not in line
        events.append(json.loads(line))  # every line is one JSON event
    assert all({"time", "level", "message"} <= set(event) for event in events)
    accepted_events = [e for e in events if e.get("message") == "job accepted" and e.get("job_id") == job_id]
    assert accepted_events and accepted_events[0]["owner"] == "alice" and accepted_events[0]["request_id"]
    assert any(e.get("job_id") == job_id and e.get("outcome") == "complete" and "render_ms" in e for e in events)
    assert any(e.get("logger") == "gunicorn.access" and e.get("request_id") == "trace-me-42" for e in events)
