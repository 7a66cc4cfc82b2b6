"""At-least-once delivery, made safe: heartbeats, racing workers, duplicates and poison messages
(on the embedded backends, workers in process; the queue contract holds them to SQS's semantics)."""

from __future__ import annotations

import dataclasses
import logging
import threading

import pytest

import core
import storage
from tests import images
from tests.databases import settings_on_each_job_store  # noqa: F401  (every test on every job store)
from tests.jobs import messages_left, receive_until, submit_directly
from thumbnailer import worker as worker_module
from thumbnailer.heartbeat import Heartbeat
from thumbnailer.worker import Worker

SHORT_VISIBILITY_SECONDS = 3


@pytest.fixture
def short(settings):
    """A queue whose messages come back after 3 s unless a heartbeat keeps them hidden."""
    short_settings = dataclasses.replace(settings, visibility_timeout_seconds=SHORT_VISIBILITY_SECONDS)
    backends = storage.connect(short_settings)
    backends.ensure()
    return short_settings, backends


class TestHeartbeat:
    def test_a_held_message_stays_hidden_then_returns_once_released(self, short):
        _, backends = short
        backends.queue.send("held")
        [message] = backends.queue.receive(wait_seconds=5)

        with Heartbeat(backends.queue, message.receipt, SHORT_VISIBILITY_SECONDS) as heartbeat:
            # Without the heartbeat the message would be back within this poll of one timeout and more.
            assert backends.queue.receive(wait_seconds=SHORT_VISIBILITY_SECONDS + 1) == []
        assert heartbeat.beats >= 2

        [again] = backends.queue.receive(wait_seconds=10)
        assert again.body == "held" and again.receive_count == 2

    def test_a_slow_render_is_not_handed_to_a_second_worker(self, short, monkeypatch):
        settings, backends = short
        job = submit_directly(backends, images.jpeg())
        rendering = threading.Event()
        real_render = worker_module.render
        steal_attempt_over = threading.Event()

        def slow_render(data, specs, max_pixels, max_frames):
            rendering.set()
            steal_attempt_over.wait(30)  # longer than a timeout: without the heartbeat it would be redelivered
            return real_render(data, specs, max_pixels, max_frames)

        monkeypatch.setattr(worker_module, "render", slow_render)
        [message] = backends.queue.receive(wait_seconds=5)
        worker = threading.Thread(target=Worker(backends, settings).handle, args=(message,))
        worker.start()
        assert rendering.wait(10)
        stolen = backends.queue.receive(wait_seconds=SHORT_VISIBILITY_SECONDS + 1)
        steal_attempt_over.set()
        worker.join(30)

        assert stolen == []
        assert backends.jobs.load(job.id).status is core.JobStatus.COMPLETE
        assert messages_left(backends.queue) == 0


class TestRacingWorkers:
    def test_a_stale_copy_cannot_put_processing_over_complete(self, backends, settings):
        """Worker A reads the pending job; B then completes it from a duplicate message; A's
        conditional write of `processing` loses, A reads again, sees `complete`, acknowledges."""
        job = submit_directly(backends, images.jpeg())
        backends.queue.send(job.id)  # the duplicate
        first, second = receive_until(backends.queue, 2)
        slow, fast = Worker(backends, settings), Worker(backends, settings)
        real_load = slow.jobs.load
        stale = {}

        def load_then_lose_the_race(job_id):
            loaded = real_load(job_id)
            if not stale:
                stale["status"] = loaded.status
                fast.handle(second)
                stale["completed"] = real_load(job_id)
            return loaded

        slow.jobs.load = load_then_lose_the_race
        slow.handle(first)

        assert stale["status"] is core.JobStatus.PENDING
        done = backends.jobs.load(job.id)
        assert done.status is core.JobStatus.COMPLETE
        assert done == stale["completed"]  # untouched since B wrote it: same finish time
        assert messages_left(backends.queue) == 0  # both acknowledged

    def test_the_slower_of_two_writers_gets_a_conflict(self, backends):
        job = core.Job()
        backends.jobs.save(job)
        mine, theirs = backends.jobs.load(job.id), backends.jobs.load(job.id)
        theirs.start_processing()
        backends.jobs.save(theirs)
        mine.fail(500, "too late")
        with pytest.raises(core.Conflict):
            backends.jobs.save(mine)
        assert backends.jobs.load(job.id).status is core.JobStatus.PROCESSING

    def test_two_workers_on_duplicated_messages_agree_on_every_job(self, backends, settings):
        jobs = [submit_directly(backends, images.jpeg(300 + 10 * n, 200)) for n in range(6)]
        for job in jobs:
            backends.queue.send(job.id)  # every job delivered twice
        workers = [threading.Thread(target=Worker(backends, settings).work, kwargs={"burst": True})
                   for _ in range(2)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(120)

        for job in jobs:
            done = backends.jobs.load(job.id)
            assert (done.status, done.code) == (core.JobStatus.COMPLETE, 200), done
            assert images.decode(backends.jobs.load_output(job.id, 0).data).width == 100
        assert messages_left(backends.queue) == 0


class TestStorageOutageInHand:
    def test_a_message_is_kept_through_a_short_outage_and_let_go_in_a_long_one(self, backends, settings,
                                                                               monkeypatch):
        job = submit_directly(backends, images.jpeg())
        [message] = backends.queue.receive(wait_seconds=5)
        now = [0.0]
        worker = Worker(backends, settings, clock=lambda: now[0])
        outage = {"left": 2}
        real_load, naps = worker.jobs.load, []

        def nap(failures, error):
            naps.append(failures)
            now[0] += 30

        def flaky_load(job_id):
            if outage["left"] > 0:
                outage["left"] -= 1
                raise core.TransientError("storage away")
            return real_load(job_id)

        monkeypatch.setattr(worker.jobs, "load", flaky_load)
        monkeypatch.setattr(worker, "_back_off", nap)
        worker.handle(message)  # two failures, then storage is back: done in hand
        assert naps == [1, 2]
        assert backends.jobs.load(job.id).status is core.JobStatus.COMPLETE

        outage["left"] = 10 ** 6  # storage never comes back: the message is let go, not held forever
        naps.clear()
        worker.handle(message)
        assert naps == list(range(1, worker_module.IN_PLACE_RETRY_SECONDS // 30 + 1))


class TestPoisonMessages:
    def test_a_malformed_body_is_dropped_with_a_log_line(self, backends, settings, caplog):
        backends.queue.send("{'not': 'a job id'}")
        with caplog.at_level(logging.INFO, logger="thumbnailer.worker"):
            Worker(backends, settings).work(burst=True)
        assert "dropping malformed message" in caplog.text
        assert messages_left(backends.queue) == 0

    def test_an_unknown_job_is_dropped_after_the_grace_period_with_a_log_line(self, backends, settings, caplog):
        settings = dataclasses.replace(settings, storage_grace_seconds=0)  # the grace period is over
        backends.queue.send(core.Job().id)  # a job id nobody stored
        worker = Worker(backends, settings)
        with caplog.at_level(logging.INFO, logger="thumbnailer.worker"):
            [message] = backends.queue.receive(wait_seconds=10)
            worker.handle(message)
        assert "job document not found; dropping the message" in caplog.text
        assert messages_left(backends.queue) == 0
