"""The thumbnailer's throughput machinery: batched deletes, jobs overlapped in threads,
and one process per core under a supervisor."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

import core
from processes.waiting import wait_until
from storage.queues.sqlite import SqliteQueue
from tests import images
from tests.jobs import messages_left, submit_directly
from tests.waiting import wait_for_terminal
from thumbnailer.acks import Acknowledger
from thumbnailer.worker import Worker


class RecordingQueue:
    def __init__(self):
        self.deleted: list[list[str]] = []

    def delete(self, receipts):
        self.deleted.append(list(receipts))


def test_outside_batching_a_message_is_deleted_at_once():
    queue = RecordingQueue()
    Acknowledger(queue).ack("r1")
    assert queue.deleted == [["r1"]]


def test_batching_deletes_ten_at_a_time_and_the_rest_on_exit():
    queue = RecordingQueue()
    acks = Acknowledger(queue)
    with acks.batching():
        for number in range(25):
            acks.ack(f"r{number}")
        assert [len(batch) for batch in queue.deleted] == [10, 10]
    assert [len(batch) for batch in queue.deleted] == [10, 10, 5]


def test_a_failed_batch_delete_is_logged_not_raised(caplog):
    class FailingQueue:
        def delete(self, receipts):
            raise core.TransientError("queue down")

    acks = Acknowledger(FailingQueue())
    with acks.batching():
        acks.ack("r1")
    assert "could not delete" in caplog.text


def test_a_backlog_is_processed_with_overlapping_jobs_and_batched_deletes(backends, settings):
    jobs = [submit_directly(backends, images.jpeg(800, 600)) for _ in range(12)]
    batches: list[int] = []
    delete = backends.queue.delete

    def recording_delete(receipts):
        batches.append(len(receipts))
        delete(receipts)

    backends.queue.delete = recording_delete
    Worker(backends, settings).work(burst=True)

    assert all(backends.jobs.load(job.id).status is core.JobStatus.COMPLETE for job in jobs)
    assert sum(batches) == 12 and max(batches) > 1
    assert messages_left(backends.queue) == 0


@pytest.mark.parametrize("empty_check_seconds", [0, 1])
def test_a_burst_waits_for_the_jobs_in_hand_never_for_more_messages(backends, settings, monkeypatch,
                                                                     empty_check_seconds):
    """While jobs run, a burst asks the queue without waiting; idle, it waits only as long as the
    queue needs to tell empty from not (SQLite: not at all; SQS: a 1 s long poll)."""
    monkeypatch.setattr(SqliteQueue, "empty_check_seconds", empty_check_seconds)
    jobs = [submit_directly(backends, images.jpeg(800, 600)) for _ in range(3)]
    worker = Worker(backends, settings)
    waits: list[int] = []
    receive = worker.queue.receive

    def recording_receive(max_messages, wait_seconds):
        waits.append(wait_seconds)
        return receive(max_messages, wait_seconds)

    monkeypatch.setattr(worker.queue, "receive", recording_receive)
    worker.work(burst=True)

    assert all(backends.jobs.load(job.id).status is core.JobStatus.COMPLETE for job in jobs)
    assert waits[-1] == empty_check_seconds and max(waits) == empty_check_seconds
    assert 0 in waits  # asked while busy


@pytest.fixture
def two_process_thumbnailer(backends, tmp_path):
    env = dict(os.environ, THUMBNAILER_PROCESSES="2", PYTHONUNBUFFERED="1")
    log = tmp_path / "thumbnailer.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "thumbnailer"], env=env,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    process.log = log
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_supervisor_runs_the_configured_processes_and_stops_them(backends, two_process_thumbnailer):
    jobs = [submit_directly(backends, images.jpeg()) for _ in range(4)]
    for job in jobs:
        assert wait_for_terminal(backends, job.id).status is core.JobStatus.COMPLETE
    # Both processes are at work (a slow start could otherwise meet SIGTERM before the loop).
    wait_until(lambda: two_process_thumbnailer.log.read_text().count('"thumbnailer started"') == 2, 30,
               description="two thumbnailer processes at work")
    assert len(psutil.Process(two_process_thumbnailer.pid).children()) == 2

    two_process_thumbnailer.terminate()
    assert two_process_thumbnailer.wait(timeout=10) == 0
    assert two_process_thumbnailer.log.read_text().count('"thumbnailer stopped"') == 2


def test_processes_stop_when_their_supervisor_is_killed(backends, two_process_thumbnailer):
    supervisor = psutil.Process(two_process_thumbnailer.pid)
    wait_until(lambda: len(supervisor.children()) == 2, 30, description="two thumbnailer processes")
    children = supervisor.children()

    two_process_thumbnailer.kill()
    two_process_thumbnailer.wait()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
