"""Bounded waits for a job to finish, read from storage or asked over HTTP (processes.waiting's
wait_until with a job-shaped condition)."""

from __future__ import annotations

import requests

import core
import storage
from processes.waiting import wait_until
from tests.environment import ALICE

FINISHED = ("complete", "failed", "cancelled")


def wait_for_terminal(backends: storage.Backends, job_id: str, timeout: float = 60) -> core.Job:
    def finished() -> core.Job | None:
        job = backends.jobs.load(job_id)
        return job if job.status.is_terminal else None

    return wait_until(finished, timeout, description=f"job {job_id} to finish")


def poll_until_finished(url: str, timeout: float = 60, headers: dict = ALICE) -> dict:
    """GET the job's status URL as Alice until it is finished."""

    def finished() -> dict | None:
        job = requests.get(url, headers=headers, timeout=5).json()
        return job if job["status"] in FINISHED else None

    return wait_until(finished, timeout, description=f"{url} to finish")
