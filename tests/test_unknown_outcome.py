"""POST /jobs when the send to the queue goes wrong, on the embedded backends: a send with no
answer is not a failure (202, the job stays pending); a failed send marks the job failed 503,
unless a thumbnailer already moved it on, which is answered from the stored state, never 500."""

from __future__ import annotations

import io
import os

import botocore.exceptions
import pytest

import core
import storage
from core.errors import OutcomeUnknown
from storage.aws import translated_errors
from storage.queues.sqlite import SqliteQueue
from tests import images
from tests.environment import ALICE


class FaultyQueue(SqliteQueue):
    """The embedded queue, with a send that can be made to deliver and/or fail."""

    deliver = True
    error: Exception | None = None
    before_error = staticmethod(lambda body: None)  # what happens meanwhile (a thumbnailer at work)

    def send(self, body: str) -> None:
        if self.deliver:
            super().send(body)
        if self.error is not None:
            self.before_error(body)
            raise self.error


@pytest.fixture
def settings(tmp_path):
    return core.Settings.from_env({"DATA_DIR": str(tmp_path), "API_KEYS": os.environ["API_KEYS"]})


@pytest.fixture
def embedded(settings):
    real = storage.connect(settings)
    backends = storage.Backends(real.objects, FaultyQueue(settings.queue_path, settings.visibility_timeout_seconds))
    backends.ensure()
    return backends


@pytest.fixture
def client(settings, embedded):
    from api import create_app

    app = create_app(settings, embedded)
    app.config["TESTING"] = True
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
    return client


def submit(client):
    return client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "photo.jpg")})


def queued(backends: storage.Backends) -> list[str]:
    return [message.body for message in backends.queue.receive(10, 0)]


@pytest.mark.parametrize("delivered", [True, False])
def test_a_send_with_no_answer_is_accepted_and_the_job_stays_pending(client, embedded, delivered):
    embedded.queue.deliver, embedded.queue.error = delivered, OutcomeUnknown("sending: read timeout")
    response = submit(client)
    assert response.status_code == 202, response.get_json()
    job = embedded.jobs.load(response.get_json()["id"])
    assert job.status is core.JobStatus.PENDING  # the reconciler ends it if the message was lost
    assert queued(embedded) == ([job.id] if delivered else [])


def test_a_failed_send_fails_the_job_with_503(client, embedded):
    embedded.queue.deliver, embedded.queue.error = False, core.TransientError("connection refused")
    response = submit(client)
    assert response.status_code == 503 and response.headers["Retry-After"]
    job = embedded.jobs.load(response.get_json()["job"])
    assert (job.status, job.code) == (core.JobStatus.FAILED, 503)


@pytest.mark.parametrize("thumbnailer_got_to", ["processing", "complete"])
def test_a_failed_send_that_reached_a_thumbnailer_is_answered_from_the_stored_job(
        client, embedded, thumbnailer_got_to):
    def thumbnailer_takes_it(job_id: str) -> None:
        def advance(job: core.Job) -> bool:
            job.start_processing()
            if thumbnailer_got_to == "complete":
                job.complete()
            return True
        embedded.jobs.update(job_id, advance)

    embedded.queue.error = core.TransientError("sending: connection reset after the message was stored")
    embedded.queue.before_error = thumbnailer_takes_it
    response = submit(client)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == thumbnailer_got_to
    assert embedded.jobs.load(response.get_json()["id"]).status.value == thumbnailer_got_to


def test_a_job_that_keeps_changing_is_answered_as_stored_not_500(client, embedded, monkeypatch):
    def always_conflicts(job_id, change, attempts=5):
        raise core.Conflict("kept changing")

    embedded.queue.deliver, embedded.queue.error = True, core.TransientError("connection reset")
    monkeypatch.setattr(embedded.jobs, "update", always_conflicts)
    response = submit(client)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "pending"


@pytest.mark.parametrize("error, translated", [
    (botocore.exceptions.ReadTimeoutError(endpoint_url="http://sqs"), OutcomeUnknown),
    (botocore.exceptions.ConnectionClosedError(endpoint_url="http://sqs"), OutcomeUnknown),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://sqs"), core.TransientError),
    (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://sqs"), core.TransientError),
])
def test_no_answer_is_told_apart_from_no_connection(error, translated):
    with pytest.raises(core.TransientError) as raised, translated_errors("sending to q"):
        raise error
    assert type(raised.value) is translated
