"""A first delivery worked from the job document sent beside its id (Message.hint): no read of
the document, no `processing` write, and still every promise of "Delivery guarantees": a job
cancelled, rescued or finished meanwhile is caught by the conditional `complete` write and read
afresh. The embedded queue drops hints, so each test puts the api's hint on the message it
received (on every job store)."""

from __future__ import annotations

import dataclasses
import time

import pytest

import core
import storage
from core.job import job_hint
from tests import images
from tests.databases import settings_on_each_job_store  # noqa: F401  (every test on every job store)
from tests.jobs import messages_left, submit_directly
from thumbnailer import worker as worker_module
from thumbnailer.worker import Worker


def hinted_message(backends: storage.Backends, job: core.Job, marked: bool = False, **changes) -> storage.Message:
    """The job's message as SQS hands it out: with the hint the api sent (the job as saved)."""
    [message] = backends.queue.receive(1, 5)
    assert message.body == job.id
    return dataclasses.replace(message, **{"hint": job_hint(job, marked), **changes})


class Recorder:
    """Counts the worker's reads of job records and the statuses it writes."""

    def __init__(self, backends: storage.Backends, monkeypatch):
        self.loads = 0
        self.written: list[str] = []
        real_load, real_save = backends.jobs.load, backends.jobs.save

        def load(job_id):
            self.loads += 1
            return real_load(job_id)

        def save(job):
            real_save(job)  # only what was written counts: a conflict raises before this
            self.written.append(job.status.value)

        monkeypatch.setattr(backends.jobs, "load", load)
        monkeypatch.setattr(backends.jobs, "save", save)


def test_a_first_delivery_reads_no_job_and_writes_only_complete(backends, settings, monkeypatch):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job)
    recorder = Recorder(backends, monkeypatch)
    Worker(backends, settings).handle(message)

    assert (recorder.loads, recorder.written) == (0, ["complete"])
    monkeypatch.undo()
    done = backends.jobs.load(job.id)
    assert (done.status, done.code) == (core.JobStatus.COMPLETE, 200)
    assert images.decode(backends.jobs.load_output(job.id, 0).data).width == 100
    assert messages_left(backends.queue) == 0


@pytest.mark.parametrize("changes", [{"receive_count": 2}, {"sent_at": time.time() - 301}, {"hint": "{not json"}],
                         ids=["redelivered", "old", "malformed"])
def test_other_deliveries_read_the_job_and_write_processing(backends, settings, monkeypatch, changes):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job, **changes)
    recorder = Recorder(backends, monkeypatch)
    Worker(backends, settings).handle(message)

    assert recorder.loads == 1 and recorder.written == ["processing", "complete"]


def test_a_job_cancelled_before_its_delivery_stays_cancelled_with_nothing_written(backends, settings):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job)
    cancelled = backends.jobs.load(job.id)  # what DELETE /jobs/<id> does
    cancelled.cancel()
    backends.jobs.save(cancelled)
    backends.jobs.delete_data(job.id, 1)

    Worker(backends, settings).handle(message)
    assert backends.jobs.load(job.id).status is core.JobStatus.CANCELLED
    with pytest.raises(core.NotFound):
        backends.jobs.load_output(job.id, 0)
    assert messages_left(backends.queue) == 0


def test_a_job_cancelled_during_its_render_loses_its_thumbnail(backends, settings, monkeypatch):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job)
    real_render = worker_module.render

    def cancelled_meanwhile(*args):
        cancelled = backends.jobs.load(job.id)
        cancelled.cancel()
        backends.jobs.save(cancelled)
        return real_render(*args)

    monkeypatch.setattr(worker_module, "render", cancelled_meanwhile)
    Worker(backends, settings).handle(message)
    assert backends.jobs.load(job.id).status is core.JobStatus.CANCELLED
    with pytest.raises(core.NotFound):
        backends.jobs.load_output(job.id, 0)
    assert messages_left(backends.queue) == 0


def test_a_job_rescued_meanwhile_is_read_again_and_completed_once(backends, settings):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job)
    rescued = backends.jobs.load(job.id)  # the reconciler's conditional write, before its send
    rescued.rescues += 1
    backends.jobs.save(rescued)

    Worker(backends, settings).handle(message)
    done = backends.jobs.load(job.id)
    assert (done.status, done.rescues) == (core.JobStatus.COMPLETE, 1)
    assert messages_left(backends.queue) == 0


def test_a_duplicate_of_a_finished_job_changes_nothing(backends, settings):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job)
    worker = Worker(backends, settings)
    worker.handle(message)
    done = backends.jobs.load(job.id)

    backends.queue.send(job.id)  # the same message delivered again, hint and all
    worker.handle(hinted_message(backends, job))
    again = backends.jobs.load(job.id)
    assert again == done and again.finish == done.finish
    assert messages_left(backends.queue) == 0


@pytest.mark.parametrize("marked", [True, False])
def test_the_waiting_marker_is_removed_only_where_one_was_written(backends, settings, monkeypatch, marked):
    job = submit_directly(backends, images.jpeg())
    message = hinted_message(backends, job, marked=marked)
    removed = []
    monkeypatch.setattr(backends.waiting, "remove", lambda owner, job_id: removed.append(job_id))
    Worker(backends, settings).handle(message)
    assert removed == ([job.id] if marked else [])
