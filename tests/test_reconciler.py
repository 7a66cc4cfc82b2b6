"""The reconciler on the embedded backends: a job left unfinished and unwritten past the bound is
sent again (once per sweep, and only by the holder of the lease), a job at work is left alone,
and after MAX_RECEIVES rescues the job is failed. Time is the reconciler's injected clock."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

import core
import storage
from tests import images
from thumbnailer import metrics
from thumbnailer.reconciler import LEASE_KEY, Reconciler
from thumbnailer.worker import Worker

BOUND = 600
INTERVAL = 60


@pytest.fixture
def settings(tmp_path):
    return core.Settings.from_env({"DATA_DIR": str(tmp_path), "RECONCILE_AFTER_SECONDS": str(BOUND),
                                   "RECONCILE_INTERVAL_SECONDS": str(INTERVAL), "MAX_RECEIVES": "3"})


@pytest.fixture
def embedded(settings):
    backends = storage.connect(settings)
    backends.ensure()
    return backends


class Clock:
    """Wall-clock seconds that a test moves on; starts past the bound, so that every job the
    test wrote is old enough to be rescued."""

    def __init__(self):
        self.now = time.time() + BOUND + 1

    def __call__(self) -> float:
        return self.now


def stored_job(backends: storage.Backends, priority: str = "normal", **fields) -> core.Job:
    """A submitted job whose message never reached the queue."""
    job = core.Job(owner="alice", priority=priority, **fields)
    backends.jobs.save_input(job.id, images.jpeg(), "image/jpeg")
    backends.jobs.save(job)
    return job


def queued(queue: storage.Queue) -> list[str]:
    messages = queue.receive(10, 0)
    queue.delete([message.receipt for message in messages])
    return [message.body for message in messages]


def rescued_count(outcome: str) -> float:
    return metrics.JOBS_RESCUED.labels(outcome=outcome)._value.get()


def test_a_job_whose_message_was_lost_is_sent_again_on_its_priority_queue(embedded, settings):
    lost = stored_job(embedded, priority="high")
    processing = stored_job(embedded)
    processing.start_processing()
    embedded.jobs.save(processing)
    before = rescued_count("requeued")

    assert Reconciler(embedded, settings, now=Clock()).sweep() == 2
    assert queued(embedded.high) == [lost.id] and queued(embedded.queue) == [processing.id]
    assert embedded.jobs.load(lost.id).rescues == 1 and embedded.jobs.load(lost.id).status is core.JobStatus.PENDING
    assert rescued_count("requeued") == before + 2


def test_jobs_written_within_the_bound_and_finished_jobs_are_left_alone(embedded, settings):
    stored_job(embedded)
    done = stored_job(embedded)
    done.start_processing()
    done.complete()
    embedded.jobs.save(done)

    clock = Clock()
    clock.now = time.time() + BOUND - 30  # the jobs were written less than the bound ago
    assert Reconciler(embedded, settings, now=clock).sweep() == 0
    clock.now += 60
    assert Reconciler(embedded, settings, now=clock).sweep() == 1  # only the pending one
    assert embedded.jobs.load(done.id) == done


def test_a_job_written_since_it_was_listed_is_not_rescued(embedded, settings, monkeypatch):
    job = stored_job(embedded)
    stale = embedded.jobs.load(job.id)
    job.start_processing()
    embedded.jobs.save(job)  # a thumbnailer took it on meanwhile
    monkeypatch.setattr(embedded.jobs, "unfinished_before", lambda cutoff: iter([stale]))

    assert Reconciler(embedded, settings, now=Clock()).sweep() == 0
    assert embedded.jobs.load(job.id) == job and queued(embedded.queue) == []


def test_after_max_receives_rescues_the_job_is_failed(embedded, settings):
    job = stored_job(embedded, rescues=settings.max_receives)
    failed = []
    before = rescued_count("failed")

    Reconciler(embedded, settings, now=Clock(), on_failed=failed.append).sweep()
    job = embedded.jobs.load(job.id)
    assert (job.status, job.code) == (core.JobStatus.FAILED, 503) and "submit the image again" in job.message
    assert [job.id for job in failed] == [job.id] and queued(embedded.queue) == []
    assert rescued_count("failed") == before + 1


def test_a_lost_job_ends_after_rescues_through_the_thumbnailer(embedded, settings):
    job = stored_job(embedded)
    clock = Clock()
    reconciler = Reconciler(embedded, settings, now=clock)
    worker = Worker(embedded, settings)

    assert reconciler.sweep_if_due() == 1
    worker.work(burst=True)
    job = embedded.jobs.load(job.id)
    assert job.status is core.JobStatus.COMPLETE and job.rescues == 1
    clock.now += INTERVAL + BOUND
    assert reconciler.sweep_if_due() == 0  # finished: nothing to do, and nothing is sent
    assert queued(embedded.queue) == []


def test_one_sweep_per_interval_across_processes(embedded, settings):
    stored_job(embedded)
    clock = Clock()
    first, second = Reconciler(embedded, settings, now=clock), Reconciler(embedded, settings, now=clock)

    assert first.sweep_if_due() == 1
    assert second.sweep_if_due() is None  # the lease is held
    assert first.sweep_if_due() is None  # its own interval has not passed
    clock.now += INTERVAL + 1
    assert second.sweep_if_due() is not None  # the lease ran out: the other sweeps
    assert first.sweep_if_due() is None


def test_racing_takers_of_a_free_lease_get_one_sweep(embedded, settings):
    clock = Clock()
    reconcilers = [Reconciler(embedded, settings, now=clock) for _ in range(8)]
    results: list = []
    barrier = threading.Barrier(len(reconcilers))

    def take(reconciler: Reconciler) -> None:
        barrier.wait()
        results.append(reconciler.sweep_if_due())

    threads = [threading.Thread(target=take, args=(reconciler,)) for reconciler in reconcilers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=lambda result: result is None) == [0] + [None] * 7
    assert embedded.objects.get(LEASE_KEY).data


def test_a_corrupt_or_expired_lease_is_taken_over(embedded, settings):
    embedded.objects.put(LEASE_KEY, b"not json", "application/json")
    assert Reconciler(embedded, settings, now=Clock()).sweep_if_due() == 0


def test_a_storage_outage_stops_the_sweep_without_raising(embedded, settings, monkeypatch):
    def down(*args, **kwargs):
        raise core.TransientError("storage down")

    monkeypatch.setattr(embedded.objects, "get", down)
    assert Reconciler(embedded, settings, now=Clock()).sweep_if_due() is None


def test_an_idle_thumbnailer_runs_the_reconciler(embedded, settings, monkeypatch):
    job = stored_job(embedded)
    worker = Worker(embedded, settings)
    worker.reconciler.now = Clock()
    monkeypatch.setattr(worker, "_receive", lambda max_messages, wait_seconds: time.sleep(0.01) or [])
    thread = threading.Thread(target=worker.work)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while embedded.jobs.load(job.id).rescues == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker._stop_requested = True
        thread.join()
    assert embedded.jobs.load(job.id).rescues == 1 and queued(embedded.queue) == [job.id]


def test_the_object_store_query_reads_a_finished_document_once(embedded, settings, monkeypatch):
    documents = storage.DocumentJobStore(embedded.objects)  # job records as JSON in the object store
    done = core.Job()
    documents.save(done)
    done.fail(500, "broken")
    documents.save(done)
    reads = []
    real_get = embedded.objects.get
    monkeypatch.setattr(embedded.objects, "get", lambda key: reads.append(key) or real_get(key))
    cutoff = datetime.now(UTC) + timedelta(seconds=10)

    assert list(documents.unfinished_before(cutoff)) == []
    assert list(documents.unfinished_before(cutoff)) == []
    assert reads == [f"jobs/{done.id}/job.json"]


def test_a_document_from_before_rescues_existed_loads_with_none():
    document = {key: value for key, value in core.Job().to_dict().items() if key != "rescues"}
    assert core.Job.from_dict(document).rescues == 0
    with pytest.raises(core.InvalidJob):
        core.Job.from_dict(dict(document, rescues=-1))
    job = dataclasses.replace(core.Job(), rescues=2)
    assert core.Job.from_json(job.to_json()).rescues == 2
