"""Bounded waits for a job to finish, read from storage or asked over HTTP."""

from __future__ import annotations

import time

import requests

import core
import storage
from tests.conftest import ALICE

FINISHED = ("complete", "failed", "cancelled")


def wait_for_terminal(backends: storage.Backends, job_id: str, timeout: float = 60) -> core.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = backends.jobs.load(job_id)
        if job.status.is_terminal:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.status.value} after {timeout} s")


def poll_until_finished(url: str, timeout: float = 60, headers: dict = ALICE) -> dict:
    """GET the job's status URL as Alice until it is finished."""
    deadline = time.monotonic() + timeout
    job = {}
    while time.monotonic() < deadline:
        job = requests.get(url, headers=headers, timeout=5).json()
        if job["status"] in FINISHED:
            return job
        time.sleep(0.1)
    raise AssertionError(f"{url} still {job.get('status')} after {timeout} s")
