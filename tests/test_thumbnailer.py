"""The thumbnailer's worker, in process and as a real process: on the embedded backends, the
real MinIO and ElasticMQ, and moto shaped like AWS."""

import dataclasses
import os
import subprocess
import sys
import time

import pytest

import core
import storage
from storage.jobstore import input_key
from storage.objects.local import LocalObjectStore
from storage.queues.sqlite import SqliteQueue
from tests import images
from tests.jobs import messages_left, submit_directly
from tests.moto_server import ON_EACH_AWS_BACKEND
from tests.waiting import wait_for_terminal
from thumbnailer import worker as worker_module
from thumbnailer.worker import Worker


def run_worker(backends, settings):
    Worker(backends, settings).work(burst=True)


@pytest.fixture
def settings(any_settings):
    """Every test here runs on the embedded backends, the real servers and moto."""
    return any_settings


class TestThumbnailer:
    def test_image_bad(self, backends, settings):
        job = submit_directly(backends, b"\x89PNG\r\n\x1a\n this is not really a PNG")
        run_worker(backends, settings)

        done = backends.jobs.load(job.id)
        assert done.status is core.JobStatus.FAILED
        assert 400 <= done.code < 500 and done.message
        assert done.finish is not None
        assert messages_left(backends.queue) == 0  # acknowledged, not retried

    def test_image_good(self, backends, settings):
        job = submit_directly(backends, images.jpeg(400, 300))
        run_worker(backends, settings)

        done = backends.jobs.load(job.id)
        assert (done.status, done.code) == (core.JobStatus.COMPLETE, 200)
        assert done.location == f"/jobs/{job.id}/thumbnail"
        stored = backends.jobs.load_output(job.id, 0)
        thumbnail = images.decode(stored.data)
        assert stored.content_type == "image/jpeg" and thumbnail.format == "JPEG"
        assert thumbnail.size == (100, 75)
        assert images.colour_distance(thumbnail.getpixel((10, 37)), images.RED) < 60
        assert images.colour_distance(thumbnail.getpixel((90, 37)), images.BLUE) < 60
        assert messages_left(backends.queue) == 0


class TestWorkerEdges:
    def test_decompression_bomb_fails_the_job_and_the_worker_goes_on(self, backends, settings):
        bomb = submit_directly(backends, images.png_bomb(), "image/png")
        good = submit_directly(backends, images.jpeg())
        run_worker(backends, settings)
        failed = backends.jobs.load(bomb.id)
        assert (failed.status, failed.code) == (core.JobStatus.FAILED, 413)
        assert "pixels" in failed.message
        assert backends.jobs.load(good.id).status is core.JobStatus.COMPLETE

    def test_malformed_message_is_dropped(self, backends, settings):
        backends.queue.send("definitely not a job id")
        run_worker(backends, settings)
        assert messages_left(backends.queue) == 0

    def test_duplicate_delivery_of_a_finished_job_changes_nothing(self, backends, settings):
        job = submit_directly(backends, images.jpeg())
        run_worker(backends, settings)
        first = backends.jobs.load(job.id)
        backends.queue.send(job.id)
        run_worker(backends, settings)
        assert backends.jobs.load(job.id) == first

    def test_unknown_job_is_retried_within_the_grace_period_then_dropped(self, backends, settings):
        backends.queue.send(core.Job().id)  # never stored
        [message] = backends.queue.receive(wait_seconds=10)
        Worker(backends, settings).handle(message)  # within grace: handed back to come again soon
        [again] = backends.queue.receive(wait_seconds=10)
        assert again.body == message.body and again.receive_count == 2
        over = dataclasses.replace(settings, storage_grace_seconds=0)  # as if the grace period had passed
        Worker(backends, over).handle(again)  # dropped
        assert messages_left(backends.queue) == 0

    def test_job_fails_after_too_many_receives(self, backends, settings):
        job = submit_directly(backends, images.jpeg())
        worker = Worker(backends, settings)
        for _ in range(settings.max_receives):  # each attempt "crashes": never acknowledged
            [message] = backends.queue.receive(wait_seconds=10)
            backends.queue.change_visibility(message.receipt, 0)
        [message] = backends.queue.receive(wait_seconds=10)
        worker.process(message)
        done = backends.jobs.load(job.id)
        assert done.status is core.JobStatus.FAILED and "attempts" in done.message

    def test_input_not_visible_yet_is_retried_not_failed(self, backends, settings):
        job = core.Job()
        backends.jobs.save(job)
        backends.queue.send(job.id)
        worker = Worker(backends, settings)
        [message] = backends.queue.receive(wait_seconds=10)
        worker.handle(message)
        assert backends.jobs.load(job.id).status is core.JobStatus.PROCESSING

        backends.jobs.save_input(job.id, images.jpeg(), "image/jpeg")  # the write becomes visible
        # It comes back this soon, well before the visibility timeout would hand it back.
        assert worker_module.RETRY_SOON_SECONDS + 1 < settings.visibility_timeout_seconds
        [again] = backends.queue.receive(wait_seconds=worker_module.RETRY_SOON_SECONDS + 1)
        worker.handle(again)
        assert backends.jobs.load(job.id).status is core.JobStatus.COMPLETE

    def test_input_still_missing_after_the_grace_period_fails_the_job(self, backends, settings):
        settings = dataclasses.replace(settings, storage_grace_seconds=0)  # the grace period is over
        job = core.Job()
        backends.jobs.save(job)
        backends.queue.send(job.id)
        run_worker(backends, settings)
        done = backends.jobs.load(job.id)
        assert (done.status, done.code) == (core.JobStatus.FAILED, 404)

    def test_cancelled_pending_job_is_never_processed(self, backends, settings):
        job = submit_directly(backends, images.jpeg())
        job.cancel()
        backends.jobs.save(job)
        run_worker(backends, settings)
        assert backends.jobs.load(job.id).status is core.JobStatus.CANCELLED
        with pytest.raises(core.NotFound):
            backends.jobs.load_output(job.id, 0)
        assert messages_left(backends.queue) == 0

    def test_job_cancelled_while_rendering_has_its_output_discarded(self, backends, settings, monkeypatch):
        job = submit_directly(backends, images.jpeg())
        real_render = worker_module.render

        def render_then_owner_cancels(data, specs, max_pixels, max_frames):
            cancelled = backends.jobs.load(job.id)
            cancelled.cancel()
            backends.jobs.save(cancelled)
            return real_render(data, specs, max_pixels, max_frames)

        monkeypatch.setattr(worker_module, "render", render_then_owner_cancels)
        run_worker(backends, settings)
        assert backends.jobs.load(job.id).status is core.JobStatus.CANCELLED
        with pytest.raises(core.NotFound):
            backends.jobs.load_output(job.id, 0)


@pytest.fixture
def thumbnailer_process(backends):
    process = subprocess.Popen([sys.executable, "-m", "thumbnailer"], env=os.environ.copy(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


class TestThumbnailerProcess:
    def test_a_running_thumbnailer_finishes_work_put_in_directly(self, backends, thumbnailer_process):
        job = submit_directly(backends, images.png_with_alpha(), "image/png")
        done = wait_for_terminal(backends, job.id)
        assert done.status is core.JobStatus.COMPLETE
        assert images.decode(backends.jobs.load_output(job.id, 0).data).mode == "RGBA"

    def test_sigterm_stops_an_idle_thumbnailer_promptly(self, backends, thumbnailer_process):
        job = submit_directly(backends, images.jpeg())
        wait_for_terminal(backends, job.id)  # it is up and long-polling
        thumbnailer_process.terminate()
        assert thumbnailer_process.wait(timeout=5) == 0
        assert "thumbnailer stopped" in thumbnailer_process.stdout.read()


@ON_EACH_AWS_BACKEND
class TestOnEachAwsBackend:
    @pytest.fixture
    def settings(self, servers_settings):
        return servers_settings

    def test_a_queue_that_vanished_is_created_again_not_a_crash(self, backends, settings):
        worker = Worker(backends, settings)
        backends.queue.delete_queue()  # an in-memory ElasticMQ that restarted
        assert worker._receive(1, 1) == []
        backends.queue.send("hello")
        assert [m.body for m in backends.queue.receive(wait_seconds=5)] == ["hello"]


class TestWorkerHousekeeping:
    def test_an_idle_worker_sweeps_a_folder_store_of_expired_data(self, tmp_path, settings):
        embedded = storage.Backends(LocalObjectStore(tmp_path / "objects"), SqliteQueue(tmp_path / "q.db", 5))
        embedded.ensure()
        old, fresh = core.Job(), core.Job()
        for job in (old, fresh):
            embedded.jobs.save_input(job.id, b"x", "image/jpeg")
        ten_days_ago = time.time() - 10 * 86400
        os.utime(embedded.objects.path(input_key(old.id)), (ten_days_ago, ten_days_ago))
        just_booted = 42.0  # time.monotonic() counts from boot: a fresh CI host reads small numbers
        worker = Worker(embedded, dataclasses.replace(settings, retention_seconds=86400), clock=lambda: just_booted)

        worker._sweep_if_due()

        with pytest.raises(core.NotFound):
            embedded.jobs.load_input(old.id)
        assert embedded.jobs.load_input(fresh.id).data == b"x"

    def test_sweeps_are_spaced_by_their_interval(self, tmp_path, settings):
        embedded = storage.Backends(LocalObjectStore(tmp_path / "objects"), SqliteQueue(tmp_path / "q.db", 5))
        embedded.ensure()
        now = [42.0]
        worker = Worker(embedded, dataclasses.replace(settings, retention_seconds=86400), clock=lambda: now[0])
        worker._sweep_if_due()
        old = core.Job()
        embedded.jobs.save_input(old.id, b"x", "image/jpeg")
        ten_days_ago = time.time() - 10 * 86400
        os.utime(embedded.objects.path(input_key(old.id)), (ten_days_ago, ten_days_ago))

        worker._sweep_if_due()  # too soon after the first
        assert embedded.jobs.load_input(old.id).data == b"x"

        now[0] += worker_module.SWEEP_INTERVAL_SECONDS
        worker._sweep_if_due()
        with pytest.raises(core.NotFound):
            embedded.jobs.load_input(old.id)
