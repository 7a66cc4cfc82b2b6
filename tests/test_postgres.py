"""A deployment on PostgreSQL without SQS: the queue's own details (the shared contract is in
test_contract), priorities, and the whole pipeline with queue and job records in the database."""

from __future__ import annotations

import os

import pytest

import core
import storage
from storage.queues.postgres import PostgresQueue
from tests import images
from tests.jobs import submit_directly
from thumbnailer.worker import Worker

pytestmark = pytest.mark.servers
LONG_VISIBILITY_SECONDS = 60


@pytest.fixture
def database_settings(postgres_url, tmp_path, request) -> core.Settings:
    """Objects in a folder; queues and job records in PostgreSQL, this test's own queue name."""
    name = f"q-{request.node.name[:40]}-{os.getpid()}"
    return core.Settings.from_env(os.environ, storage_url=(tmp_path / "objects").as_uri(),
                                  queue_url=f"{postgres_url}?queue={name}", queue_url_high="", queue_url_low="",
                                  jobs_url=postgres_url)


@pytest.fixture
def backends(database_settings):
    backends = storage.connect(database_settings)
    backends.ensure()
    yield backends
    for queue in backends.queues:
        queue.delete_queue()


def test_priority_queues_are_named_after_the_queue(database_settings, backends):
    assert [queue.name for queue in backends.queues] == [
        f"{database_settings.postgres_queue[1]}-high", database_settings.postgres_queue[1],
        f"{database_settings.postgres_queue[1]}-low"]
    backends.queue_for("low").send("low job")
    backends.queue_for("high").send("high job")
    assert [message.body for message in backends.inbox.receive(10, 1)] == ["high job"]
    assert [message.body for message in backends.inbox.receive(10, 1)] == ["low job"]


def test_a_stale_receipt_cannot_change_visibility(postgres_url):
    queue = PostgresQueue(postgres_url, f"stale-{os.getpid()}", LONG_VISIBILITY_SECONDS)
    queue.ensure()
    queue.send("a")
    [first] = queue.receive(wait_seconds=1)
    queue.change_visibility(first.receipt, 0)
    queue.receive(wait_seconds=1)
    with pytest.raises(core.NotFound):
        queue.change_visibility(first.receipt, 0)
    queue.delete_queue()


def test_an_unreachable_server_is_transient():
    queue = PostgresQueue("postgresql://postgres@127.0.0.1:9/none", "q", LONG_VISIBILITY_SECONDS)
    with pytest.raises(core.TransientError):
        queue.send("x")
    with pytest.raises(core.TransientError):
        queue.ping()


def test_a_thumbnailer_completes_jobs_from_the_database_queue(backends, database_settings):
    jobs = [submit_directly(backends, images.jpeg(300 + 10 * n, 200)) for n in range(3)]
    backends.queue.send(jobs[0].id)  # a duplicate, as at-least-once delivery allows
    Worker(backends, database_settings).work(burst=True)
    for job in jobs:
        done = backends.jobs.load(job.id)
        assert (done.status, done.code) == (core.JobStatus.COMPLETE, 200)
        assert images.decode(backends.jobs.load_output(job.id, 0).data).width == 100
    assert backends.queue.approximate_depth() == (0, 0)
