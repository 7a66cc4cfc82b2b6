"""The per-owner cap of waiting jobs keeps its markers only while there is a backlog: a
submission to short queues costs no LIST, PUT or DELETE, and an owner alone still stops at the
cap (storage/waiting.py)."""

from __future__ import annotations

import dataclasses
import io

import pytest

import core
from api import create_app
from storage import waiting as waiting_module
from storage.waiting import WaitingJobs
from tests import images
from tests.environment import ALICE

CAP = 4


@pytest.fixture
def capped(settings, backends):
    client = create_app(dataclasses.replace(settings, max_waiting_jobs_per_owner=CAP), backends).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
    return client


def post(client) -> int:
    return client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "a.jpg")}).status_code


def markers(backends) -> int:
    return len(backends.objects.list_keys(waiting_module.PREFIX, 100))


def test_no_markers_while_the_queues_hold_less_than_half_the_cap(capped, backends):
    assert [post(capped) for _ in range(CAP // 2)] == [202] * (CAP // 2)
    assert markers(backends) == 0
    assert post(capped) == 202
    assert markers(backends) == 1


def test_an_owner_alone_stops_at_the_cap(capped, backends):
    answers = [post(capped) for _ in range(CAP + 2)]
    assert answers == [202] * CAP + [429] * 2


def test_the_depth_is_read_once_per_interval_not_per_submission(capped, backends, monkeypatch):
    reads = []
    for queue in backends.queues:
        real = queue.approximate_depth
        monkeypatch.setattr(queue, "approximate_depth", lambda real=real: reads.append(1) or real())
    assert [post(capped) for _ in range(3)] == [202] * 3
    assert len(reads) == len(backends.queues)  # one read of each queue, within DEPTH_READ_SECONDS


def test_a_queue_that_cannot_say_its_depth_means_markers_as_before(backends, monkeypatch):
    def away():
        raise core.TransientError("queue away")

    monkeypatch.setattr(backends.queues[0], "approximate_depth", away)
    waiting = WaitingJobs(backends.objects, backends.queues)
    assert waiting.needs_markers(CAP)
