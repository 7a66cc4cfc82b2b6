"""The job document as a class: defaults, transitions, JSON round trip, refusals."""

import datetime
import json
import uuid

import pytest

from core import InvalidJob, Job, JobStatus


def test_new_job_has_uuid_start_and_pending_status():
    job = Job()
    assert uuid.UUID(job.id).version == 4
    assert job.status is JobStatus.PENDING
    assert job.start.tzinfo is not None and job.finish is None
    assert job.location == f"/jobs/{job.id}"
    assert job.code == 202


def test_json_round_trip_keeps_every_field():
    job = Job()
    job.start_processing()
    job.complete()
    again = Job.from_json(job.to_json())
    assert again == job
    assert again.location == f"/jobs/{job.id}/thumbnail" and again.code == 200 and again.finish is not None


def test_legal_path_to_failure():
    job = Job()
    job.start_processing()
    job.fail(415, "not an image")
    assert (job.status, job.code, job.message) == (JobStatus.FAILED, 415, "not an image")
    assert job.finish >= job.start


@pytest.mark.parametrize("steps", [
    ["complete"],                          # pending -> complete skips processing
    ["start_processing", "complete", "start_processing"],  # complete is terminal
    ["start_processing", "fail", "complete"],              # failed is terminal
])
def test_illegal_transitions_are_refused(steps):
    job = Job()
    with pytest.raises(InvalidJob):
        for step in steps:
            getattr(job, step)(*((500, "x") if step == "fail" else ()))


def test_redelivery_may_restart_processing():
    job = Job()
    job.start_processing()
    job.start_processing()
    assert job.status is JobStatus.PROCESSING


@pytest.mark.parametrize("change", [
    {"surprise": 1},
    {"status": "sleeping"},
    {"id": "not-a-uuid"},
    {"id": str(uuid.uuid1())},
    {"start": "yesterday"},
    {"start": "2026-01-01T00:00:00"},  # no time zone
    {"code": 99},
    {"code": "200"},
    {"message": 5},
    {"priority": "urgent"},
    {"outputs": []},
    {"outputs": [{"format": "tiff"}]},
    {"outputs": [{"format": "jpeg", "animated": True}]},
    {"outputs": [{"size": "0,10"}]},
    {"outputs": "100x100"},
    {"callback_url": 5},
    {"deliveries": [{"status": 200}]},
    {"deliveries": {}},
])
def test_malformed_documents_are_refused(change):
    document = dict(Job().to_dict(), **change)
    with pytest.raises(InvalidJob):
        Job.from_json(json.dumps(document))


@pytest.mark.parametrize("text", ["", "[]", "{", b"\xff\xfe", '{"id": "x"}'])
def test_non_documents_are_refused(text):
    with pytest.raises(InvalidJob):
        Job.from_json(text)


def test_cancel_from_pending_and_processing_only():
    pending, processing, complete = Job(owner="alice"), Job(), Job()
    processing.start_processing()
    complete.start_processing()
    complete.complete()
    for job in (pending, processing):
        job.cancel()
        assert job.status is JobStatus.CANCELLED and job.status.is_terminal and job.finish
    with pytest.raises(InvalidJob):
        complete.cancel()
    assert Job.from_json(pending.to_json()).owner == "alice"


def test_expiry_counts_from_finish():
    job = Job()
    assert not job.is_expired(0)  # not finished: nothing to expire
    job.start_processing()
    job.fail(422, "corrupt")
    assert not job.is_expired(3600)
    assert job.is_expired(3600, now=job.finish + datetime.timedelta(seconds=3601))


def test_empty_owner_is_refused():
    with pytest.raises(InvalidJob):
        Job(owner="")


def test_outputs_priority_callback_and_deliveries_round_trip():
    from core.outputs import OutputSpec

    job = Job(outputs=(OutputSpec(200, 120, "webp", "cover", 70), OutputSpec(64, 64, "png", "pad", None, "#ffffff")),
              priority="high", callback_url="https://example.com/hook")
    job.record_delivery(500, "receiver answered 500")
    assert Job.from_json(job.to_json()) == job


def test_a_document_from_before_outputs_existed_still_loads():
    document = {key: value for key, value in Job().to_dict().items()
                if key not in ("outputs", "priority", "callback_url", "deliveries")}
    job = Job.from_dict(document)
    assert [spec.to_dict() for spec in job.outputs] == [Job().outputs[0].to_dict()]
    assert (job.priority, job.callback_url, job.deliveries) == ("normal", None, [])
