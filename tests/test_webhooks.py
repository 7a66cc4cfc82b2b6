"""Webhooks against a real HTTP receiver on 127.0.0.1 (allowed by WEBHOOK_ALLOW_NETWORKS).

A test's worker runs until its queue is empty and then until every delivery it started is over,
back-off and retries included; so a test can count the attempts at once, with no waiting."""

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
from processes.waiting import wait_until
from tests import images
from tests.environment import ALICE
from tests.jobs import nothing_queued
from tests.jobs import submit_directly as submit_job
from thumbnailer.worker import Worker

SECRET = "test-webhook-secret"
SHUTDOWN_POLL_SECONDS = 0.05  # how soon close() returns (the default is 0.5 s)


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
        threading.Thread(target=self.server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), daemon=True).start()

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
    return submit_job(backends, data, "application/octet-stream", callback_url=callback_url)


def run_worker(backends, settings) -> None:
    """Work until the queue is empty, then until every webhook attempt (and retry) is over."""
    worker = Worker(backends, settings)
    worker.work(burst=True)
    wait_until(worker.webhooks.idle, 60, description="every webhook attempt")  # close() would abandon retries


def recorded(backends, job_id: str) -> list[dict]:
    return backends.jobs.load(job_id).deliveries


def test_a_finished_job_is_posted_signed(hook_client, hook_settings, backends, receiver):
    job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
    run_worker(backends, hook_settings)

    [(headers, body)] = receiver.requests
    document = verify(headers, body)
    assert document["id"] == job_id and document["status"] == "complete"
    assert headers["X-Thumbnails-Event"] == "job.complete"
    with pytest.raises(ValueError):
        verify(headers, body.replace(b"complete", b"failed!!"))
    [delivery] = recorded(backends, job_id)
    assert delivery["status"] == 200 and delivery["error"] is None


def test_a_receiver_error_is_retried_and_each_attempt_recorded(hook_client, hook_settings, backends):
    receiver = Receiver(statuses=[500, 503])
    try:
        job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
        run_worker(backends, hook_settings)
        requests = receiver.requests
        assert len(requests) == 3
        assert [verify(*request)["id"] for request in requests] == [job_id] * 3
        deliveries = recorded(backends, job_id)
        assert [delivery["status"] for delivery in deliveries] == [500, 503, 200]
        assert backends.jobs.load(job_id).status is core.JobStatus.COMPLETE
    finally:
        receiver.close()


def test_a_redirect_is_final_and_not_followed(hook_client, hook_settings, backends):
    receiver = Receiver(statuses=[302])
    try:
        job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
        run_worker(backends, hook_settings)
        [delivery] = recorded(backends, job_id)
        assert delivery["status"] == 302
        assert len(receiver.requests) == 1  # no retry: a redirect is final
    finally:
        receiver.close()


def test_a_failed_job_is_posted_too(hook_settings, backends, receiver):
    job = submit_directly(backends, b"\x89PNG\r\n\x1a\n not really a PNG", receiver.url)
    run_worker(backends, hook_settings)
    [(headers, body)] = receiver.requests
    assert headers["X-Thumbnails-Event"] == "job.failed"
    assert verify(headers, body, owner=ANONYMOUS)["status"] == "failed"
    assert backends.jobs.load(job.id).status is core.JobStatus.FAILED


def test_a_failing_webhook_never_fails_the_job(hook_client, hook_settings, backends):
    receiver = Receiver(statuses=[500] * 10)
    try:
        settings = dataclasses.replace(hook_settings, webhook_attempts=2)
        job_id = submit(hook_client, images.jpeg(), receiver.url).get_json()["id"]
        run_worker(backends, settings)
        deliveries = recorded(backends, job_id)
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
    assert nothing_queued(backends)


def test_the_address_is_checked_again_at_delivery(hook_settings, backends, receiver):
    job = submit_directly(backends, images.jpeg(), receiver.url)  # accepted; the allow-list has since gone
    run_worker(backends, dataclasses.replace(hook_settings, webhook_allow_networks=()))
    [delivery] = recorded(backends, job.id)
    assert delivery["status"] is None and delivery["error"].startswith("refused")
    assert receiver.requests == []
