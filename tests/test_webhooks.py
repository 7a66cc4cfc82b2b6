"""Webhooks against a real HTTP receiver on 127.0.0.1 (allowed by WEBHOOK_ALLOW_NETWORKS)."""

import dataclasses
import hashlib
import hmac
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import core
from core.callbacks import check_callback_url, owner_signing_secret
from core.errors import CallbackRefused
from core.job import ANONYMOUS
from tests import images
from thumbnailer.worker import Worker

SECRET = "test-webhook-secret"


class Receiver:
    """Records every POST; answers with the scripted statuses, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def hook_settings(settings):
    return dataclasses.replace(settings, webhook_secret=SECRET, webhook_allow_networks=("127.0.0.1/32",),
                               webhook_backoff_seconds=0.1, webhook_timeout_seconds=2)


@pytest.fixture
def hook_client(hook_settings, backends):
    from api import create_app
    from tests.conftest import ALICE

    client = create_app(hook_settings, backends).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
    return client


def submit(client, data: bytes, callback_url: str):
    return client.post("/jobs", data={"image": (io.BytesIO(data), "photo"), "callback_url": callback_url},
                       content_type="multipart/form-data")


def verify(headers: dict, body: bytes, owner: str = "alice", tolerance_seconds: int = 300) -> dict:
    """What a receiver does with its owner's signing secret (the README shows the same lines)."""
    secret = owner_signing_secret(SECRET, owner)
    fields = dict(part.split("=", 1) for part in headers["X-Thumbnails-Signature"].split(","))
    signed = f"{fields['t']}.{headers['X-Thumbnails-Event']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["v2"]) or abs(time.time() - int(fields["t"])) > tolerance_seconds:
        raise ValueError("bad signature")
    return json.loads(body)


def submit_directly(backends, data: bytes, callback_url: str) -> core.Job:
    job = core.Job(callback_url=callback_url)
    backends.jobs.save_input(job.id, data, "application/octet-stream")
    backends.jobs.save(job)
    backends.queue.send(job.id)
    return job


def wait_for_deliveries(backends, job_id: str, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries = backends.jobs.load(job_id).deliveries
        if len(deliveries) >= count:
            return deliveries
        time.sleep(0.05)
    return backends.jobs.load(job_id).deliveries


def test_a_finished_job_is_posted_signed(hook_client, hook_settings, backends, receiver):
    job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
    Worker(backends, hook_settings).work(burst=True)

    [(headers, body)] = receiver.wait_for(1)
    document = verify(headers, body)
    assert document["id"] == job_id and document["status"] == "complete"
    assert headers["X-Thumbnails-Event"] == "job.complete"
    with pytest.raises(ValueError):
        verify(headers, body.replace(b"complete", b"failed!!"))
    [delivery] = wait_for_deliveries(backends, job_id, 1)
    assert delivery["status"] == 200 and delivery["error"] is None


def test_a_receiver_error_is_retried_and_each_attempt_recorded(hook_client, hook_settings, backends):
    receiver = Receiver(statuses=[500, 503])
    try:
        job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
        Worker(backends, hook_settings).work(burst=True)
        requests = receiver.wait_for(3)
        assert len(requests) == 3
        assert [verify(*request)["id"] for request in requests] == [job_id] * 3
        deliveries = wait_for_deliveries(backends, job_id, 3)
        assert [delivery["status"] for delivery in deliveries] == [500, 503, 200]
        assert backends.jobs.load(job_id).status is core.JobStatus.COMPLETE
    finally:
        receiver.close()


def test_a_redirect_is_final_and_not_followed(hook_client, hook_settings, backends):
    receiver = Receiver(statuses=[302])
    try:
        job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
        Worker(backends, hook_settings).work(burst=True)
        [delivery] = wait_for_deliveries(backends, job_id, 1)
        assert delivery["status"] == 302
        time.sleep(0.5)  # (a retry would come after 0.1 s)
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


def test_a_failed_job_is_posted_too(hook_settings, backends, receiver):
    job = submit_directly(backends, b"\x89PNG\r\n\x1a\n not really a PNG", receiver.url)
    Worker(backends, hook_settings).work(burst=True)
    [(headers, body)] = receiver.wait_for(1)
    assert headers["X-Thumbnails-Event"] == "job.failed"
    assert verify(headers, body, owner=ANONYMOUS)["status"] == "failed"
    assert backends.jobs.load(job.id).status is core.JobStatus.FAILED


def test_a_failing_webhook_never_fails_the_job(hook_client, hook_settings, backends):
    receiver = Receiver(statuses=[500] * 10)
    try:
        settings = dataclasses.replace(hook_settings, webhook_attempts=2)
        job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
        Worker(backends, settings).work(burst=True)
        deliveries = wait_for_deliveries(backends, job_id, 2)
        assert [delivery["status"] for delivery in deliveries] == [500, 500]
        assert backends.jobs.load(job_id).status is core.JobStatus.COMPLETE
    finally:
        receiver.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest",
                                 "http://[::1]/hook", "http://192.168.0.10/", "http://localhost/hook"])
def test_internal_addresses_are_refused_without_the_allow_list(url, client, backends):
    with pytest.raises(CallbackRefused):
        check_callback_url(url, ())
    app_settings = client.application.extensions["thumbnails.settings"]
    client.application.extensions["thumbnails.settings"] = dataclasses.replace(app_settings, webhook_secret=SECRET)
    response = submit(client, images.jpeg(), url)
    assert response.status_code == 400 and response.get_json()["field"] == "callback_url"
    assert all(queue.receive(wait_seconds=1) == [] for queue in backends.queues)


def test_the_address_is_checked_again_at_delivery(hook_settings, backends, receiver):
    job = submit_directly(backends, images.jpeg(), receiver.url)  # accepted; the allow-list has since gone
    Worker(backends, dataclasses.replace(hook_settings, webhook_allow_networks=())).work(burst=True)
    [delivery] = wait_for_deliveries(backends, job.id, 1)
    assert delivery["status"] is None and delivery["error"].startswith("refused")
    assert receiver.requests == []
