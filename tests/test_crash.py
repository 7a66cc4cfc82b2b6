"""A thumbnailer killed with SIGKILL mid-job: the message comes back and another thumbnailer
completes the job, with the same output as without the crash (shared real servers)."""

from __future__ import annotations

import os
import signal
import time

import pytest

import core
from core.render import render
from tests import images, processes
from tests.databases import settings_on_each_job_store  # noqa: F401  (every test on every job store)
from tests.jobs import submit_directly
from tests.waiting import wait_for_terminal

# A large, highly compressible PNG: a few hundred KB to store, but the whole canvas is decoded,
# so the render takes long enough (several tenths of a second) to catch the worker inside it.
SLOW_SIDE = 8000
SLOW_PIXEL_LIMIT = 100_000_000
ATTEMPTS = 3


@pytest.fixture(scope="module")
def slow_png() -> bytes:
    return images.slow_png(SLOW_SIDE)


def freeze_mid_job(backends, job_id: str, process, timeout: float = 60) -> bool:
    """SIGSTOP the process as soon as the job says `processing`; True if it is still processing
    once frozen, i.e. the worker holds the message and has not written the thumbnail's job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backends.jobs.load(job_id).status is not core.JobStatus.PENDING:
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGSTOP)
    return backends.jobs.load(job_id).status is core.JobStatus.PROCESSING


def test_a_job_whose_thumbnailer_was_killed_is_completed_by_another(backends, slow_png, tmp_path):
    env = dict(os.environ, MAX_IMAGE_PIXELS=str(SLOW_PIXEL_LIMIT))
    for attempt in range(ATTEMPTS):
        # Given a thumbnailer caught in the middle of a slow job
        job = submit_directly(backends, slow_png, "image/png")
        victim = processes.start_thumbnailer(env, tmp_path / f"victim-{attempt}.log")
        try:
            caught = freeze_mid_job(backends, job.id, victim)
        finally:
            # When it is killed outright: no SIGTERM, no finally blocks, no hand-back
            victim.kill()
            victim.wait()
        if caught:
            break
        wait_for_terminal(backends, job.id)  # it finished before it was frozen; try again
    assert caught, f"never caught the thumbnailer mid-job in {ATTEMPTS} attempts"

    # Then, once the visibility timeout has passed, a second thumbnailer completes the job
    rescuer = processes.start_thumbnailer(env, tmp_path / "rescuer.log")
    try:
        done = wait_for_terminal(backends, job.id)
    finally:
        processes.stop(rescuer)
    assert (done.status, done.code) == (core.JobStatus.COMPLETE, 200)
    # ... with the very bytes an uninterrupted render gives: the worker's own call, for the job's outputs
    [expected] = render(slow_png, done.outputs, SLOW_PIXEL_LIMIT)
    assert backends.jobs.load_output(job.id, 0).data == expected.data
