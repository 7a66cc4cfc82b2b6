"""Images by URL and by object key, and batches of them, on the embedded backends: the api
checks and stores, the thumbnailer (in process) fetches from a local HTTP server on 127.0.0.1,
which SOURCE_ALLOW_NETWORKS lets it reach."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

import core
from core.errors import ConfigurationError, InvalidOption
from core.sources import parse_object_source
from processes.waiting import wait_until
from tests import images
from tests.environment import ALICE
from tests.jobs import nothing_queued
from tests.sources import SourceServer, self_signed
from thumbnailer.fetch import MAX_REDIRECTS
from thumbnailer.worker import Worker

LIMIT_BYTES = 100_000  # MAX_UPLOAD_BYTES here: the server's "big" answers are twice that


@pytest.fixture
def origin():
    with SourceServer(big_bytes=2 * LIMIT_BYTES) as server:
        yield server


@pytest.fixture
def source_settings(settings):
    return dataclasses.replace(settings, source_allow_networks=("127.0.0.1/32",), source_timeout_seconds=1.0,
                               max_upload_bytes=LIMIT_BYTES, max_receives=1)


@pytest.fixture
def source_client(source_settings, backends):
    from api import create_app

    client = create_app(source_settings, backends).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
    return client


def submit(client, **document):
    return client.post("/jobs", json=document)


def run(backends, settings, job_id: str) -> core.Job:
    """Work until the job is finished (a source retried later needs more than one burst)."""
    def finished() -> bool:
        Worker(backends, settings).work(burst=True)
        return backends.jobs.load(job_id).status.is_terminal

    wait_until(finished, 30, description=f"job {job_id} finished")
    return backends.jobs.load(job_id)


def submitted(client, **document) -> str:
    response = submit(client, **document)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


# -- by URL, end to end ----------------------------------------------------------------


def test_a_job_by_source_url_completes_and_shows_its_source(source_client, source_settings, backends, origin):
    url = origin.url("/image.jpg")
    accepted = submit(source_client, source_url=url, outputs=[{"size": "50,50", "format": "png"}])
    assert accepted.status_code == 202
    document = accepted.get_json()
    assert document["source_url"] == url and "source" not in document
    assert accepted.headers["Location"].endswith(f"/jobs/{document['id']}")
    assert origin.requests == []  # nothing fetched on the request thread

    job = run(backends, source_settings, document["id"])
    assert job.status is core.JobStatus.COMPLETE, job.message
    assert origin.requests == ["/image.jpg"]
    status = source_client.get(f"/jobs/{job.id}").get_json()
    assert status["status"] == "complete" and status["source_url"] == url
    thumbnail = source_client.get(f"/jobs/{job.id}/thumbnail")
    assert thumbnail.content_type == "image/png"
    assert images.decode(thumbnail.data).size == (50, 25)


def test_a_json_submission_chooses_how_long_its_signed_urls_work(source_client, source_settings, backends, origin):
    accepted = submit(source_client, source_url=origin.url("/image.jpg"), url_ttl_seconds=120)
    assert accepted.status_code == 202, accepted.get_json()
    job = run(backends, source_settings, accepted.get_json()["id"])
    assert job.status is core.JobStatus.COMPLETE and job.url_ttl_seconds == 120
    document = source_client.get(f"/jobs/{job.id}").get_json()
    expires = int(document["outputs"][0]["signed_url"].split("expires=")[1].split("&")[0])
    assert expires == job.urls_expire(source_settings.signed_url_ttl_seconds, source_settings.retention_seconds)
    assert expires == int(job.finish.timestamp()) + 120


def test_a_source_url_as_a_query_parameter_needs_no_body(source_client, source_settings, backends, origin):
    response = source_client.post("/jobs", query_string={"source_url": origin.url("/image.jpg"), "priority": "high"})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["priority"] == "high"
    assert run(backends, source_settings, response.get_json()["id"]).status is core.JobStatus.COMPLETE


def test_redirects_are_followed_and_each_hop_is_fetched(source_client, source_settings, backends, origin):
    job = run(backends, source_settings, submitted(source_client, source_url=origin.url("/redirect/3")))
    assert job.status is core.JobStatus.COMPLETE, job.message
    assert origin.requests == ["/redirect/3", "/redirect/2", "/redirect/1", "/image.jpg"]


def test_a_redirect_loop_is_cut_off(source_client, source_settings, backends, origin):
    job = run(backends, source_settings, submitted(source_client, source_url=origin.url("/loop")))
    assert (job.status, job.code) == (core.JobStatus.FAILED, 422)
    assert job.message == f"source_unreachable: more than {MAX_REDIRECTS} redirects"
    assert len(origin.requests) == MAX_REDIRECTS + 1


def test_a_redirect_to_an_internal_address_is_refused_at_that_hop(source_client, source_settings, backends, origin):
    job = run(backends, source_settings, submitted(source_client, source_url=origin.url("/forbidden")))
    assert (job.status, job.code) == (core.JobStatus.FAILED, 422)
    assert job.message.startswith("source_unreachable: redirect 1 (http://169.254.169.254/")
    assert "public" in job.message
    assert origin.requests == ["/forbidden"]


def test_the_address_is_checked_again_when_fetching(source_client, source_settings, backends, origin):
    job_id = submitted(source_client, source_url=origin.url("/image.jpg"))  # the allow-list has since gone
    job = run(backends, dataclasses.replace(source_settings, source_allow_networks=()), job_id)
    assert (job.status, job.code) == (core.JobStatus.FAILED, 422)
    assert job.message.startswith("source_unreachable: the source URL must name a host")
    assert origin.requests == []


@pytest.mark.parametrize("path, code, words", [
    ("/missing", 422, "source_unreachable: the source URL answered 404 Not Found"),
    ("/big", 413, f"source_too_large: the source is {2 * LIMIT_BYTES} bytes; the limit is {LIMIT_BYTES}"),
    ("/big-undeclared", 413, f"source_too_large: the source is larger than the limit of {LIMIT_BYTES} bytes"),
    ("/slow", 422, "source_unreachable: no complete answer within 1 s (attempt 1 of 1)"),
    ("/text", 415, "source_not_an_image: not a supported image"),
    ("/flaky", 422, "source_unreachable: the source URL answered 503 Service Unavailable (attempt 1 of 1)"),
])
def test_a_source_that_cannot_be_used_fails_the_job_clearly(path, code, words, source_client, source_settings,
                                                            backends, origin):
    job = run(backends, source_settings, submitted(source_client, source_url=origin.url(path)))
    assert (job.status, job.code) == (core.JobStatus.FAILED, code)
    assert job.message.startswith(words), job.message
    assert source_client.get(f"/jobs/{job.id}").get_json()["message"] == job.message


def test_a_source_that_did_not_answer_is_tried_again(source_client, source_settings, backends, origin):
    settings = dataclasses.replace(source_settings, max_receives=3)
    job = run(backends, settings, submitted(source_client, source_url=origin.url("/flaky")))
    assert job.status is core.JobStatus.COMPLETE, job.message
    assert origin.requests == ["/flaky", "/flaky"]


def test_an_unresolvable_host_fails_the_job(source_settings, backends):
    job = core.Job(source_url="http://no-such-host.invalid/image.jpg")
    backends.jobs.save(job)
    backends.queue.send(job.id)
    job = run(backends, source_settings, job.id)
    assert (job.status, job.code) == (core.JobStatus.FAILED, 422)
    assert job.message == "source_unreachable: the source URL must name a host whose addresses are all public"


@pytest.mark.parametrize("name, trusted, fails_with", [
    ("IP:127.0.0.1", True, None),
    ("IP:127.0.0.1", False, "certificate verify failed"),
    ("DNS:example.test", True, "mismatch"),  # a trusted certificate, for another name
])
def test_https_sources_are_verified_against_the_name(name, trusted, fails_with, source_client, source_settings,
                                                     backends, tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path, name)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # OpenSSL's default trust store, for this test only
    with SourceServer(tls=(cert, key)) as origin:
        job = run(backends, source_settings, submitted(source_client, source_url=origin.url("/image.jpg")))
    if fails_with is None:
        assert job.status is core.JobStatus.COMPLETE, job.message
    else:
        assert (job.status, job.code) == (core.JobStatus.FAILED, 422)
        assert job.message.startswith("source_unreachable: TLS with 127.0.0.1 failed") and fails_with in job.message, \
            job.message


# -- what the api refuses, before anything is stored or queued ----------------------------


@pytest.mark.parametrize("document, field, words", [
    ({"source_url": "ftp://example.com/a.jpg"}, "source_url", "http or https"),
    ({"source_url": "http://127.0.0.1:9/a.jpg"}, "source_url", "public"),
    ({"source_url": "http://10.1.2.3/a.jpg"}, "source_url", "public"),
    ({"source_url": "http://169.254.169.254/latest"}, "source_url", "public"),
    ({"source_url": 42}, "source_url", "must be a string"),
    ({"source": "s3://images/photo.jpg"}, "source", "S3 storage"),
    ({"source": "images/photo.jpg"}, "source", "s3://bucket/key"),
    ({"source_url": "https://example.com/a.jpg", "source": "s3://images/a.jpg"}, "source", "not both"),
    ({"outputs": [{"size": "50,50"}]}, "source_url", "source_url or source"),
    ({"source_url": "https://example.com/a.jpg", "colour": "red"}, "'colour'", "unknown key"),
    ({"source_url": "https://example.com/a.jpg", "output": {}, "outputs": {}}, "outputs", "not both"),
    ({"source_url": "https://example.com/a.jpg", "outputs": [{"size": "0,5"}]}, "outputs[0].size", "each side"),
    ({"source_url": "https://example.com/a.jpg", "priority": "urgent"}, "priority", "must be one of"),
    ({"source_url": "https://example.com/a.jpg", "url_ttl_seconds": 0}, "url_ttl_seconds", "from 1"),
    ({"source_url": "https://example.com/a.jpg", "url_ttl_seconds": True}, "url_ttl_seconds", "whole number"),
])
def test_a_bad_json_submission_is_refused_naming_the_field(document, field, words, client, backends):
    response = client.post("/jobs", json=document)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["field"] == field
    assert words in response.get_json()["message"]
    assert nothing_queued(backends)


def test_query_options_beside_a_json_body_are_refused(client, backends):
    response = client.post("/jobs?priority=high", json={"source_url": "https://example.com/a.jpg"})
    assert response.status_code == 400 and response.get_json()["field"] == "'priority'"
    assert nothing_queued(backends)


def test_a_source_url_with_an_uploaded_image_is_refused(client, backends):
    response = client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "a.jpg"),
                                          "source_url": "https://example.com/a.jpg"},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["field"] == "source_url"
    assert nothing_queued(backends)


@pytest.mark.parametrize("body, status, field", [
    (b"{not json", 400, "body"),
    (b"[" * 10 + b"]" * 10, 400, "body"),
    (b'{"source_url": "https://example.com/' + b"a" * 70_000 + b'"}', 413, None),
    (b"\xff\xfe", 400, "body"),
])
def test_a_malformed_json_body_is_refused(body, status, field, client, backends):
    response = client.post("/jobs", data=body, content_type="application/json")
    assert response.status_code == status
    assert response.get_json().get("field") == field
    assert nothing_queued(backends)


def test_objects_by_key_need_an_allowed_bucket(settings):
    from api.options import options_from_json

    s3 = dataclasses.replace(settings, storage_url="s3://service-bucket")
    with pytest.raises(InvalidOption, match="SOURCE_BUCKETS is empty"):
        options_from_json({"source": "s3://images/a.jpg"}, s3)
    allowed = dataclasses.replace(s3, source_buckets=("images",))
    with pytest.raises(InvalidOption, match="not one this server may read"):
        options_from_json({"source": "s3://other/a.jpg"}, allowed)
    assert options_from_json({"source": "s3://images/a/b.jpg"}, allowed).source == "s3://images/a/b.jpg"


# -- batches ---------------------------------------------------------------------------


def test_a_batch_answers_each_job_or_its_error_in_order(source_client, source_settings, backends, origin):
    response = source_client.post("/jobs/batch", json={"jobs": [
        {"source_url": origin.url("/image.jpg")},
        {"source_url": "ftp://example.com/a.jpg"},
        {"source_url": origin.url("/redirect/1"), "priority": "high", "outputs": {"size": "30,30"}},
        "not an object",
    ]})
    assert response.status_code == 202
    first, refused, third, odd = response.get_json()["jobs"]
    assert first["status"] == "pending" and first["source_url"] == origin.url("/image.jpg")
    assert refused["error"]["status"] == 400 and refused["error"]["field"] == "jobs[1].source_url"
    assert third["priority"] == "high" and third["outputs"][0]["width"] == 30
    assert odd["error"]["field"] == "jobs[3]"
    for job_id in (first["id"], third["id"]):
        assert run(backends, source_settings, job_id).status is core.JobStatus.COMPLETE
        assert source_client.get(f"/jobs/{job_id}").get_json()["status"] == "complete"


def test_a_batch_item_over_the_waiting_cap_is_refused_alone(source_client, source_settings, backends, origin):
    source_client.application.extensions["thumbnails.settings"] = dataclasses.replace(
        source_settings, max_waiting_jobs_per_owner=2)
    response = source_client.post("/jobs/batch", json={"jobs": [{"source_url": origin.url("/image.jpg")}] * 3})
    results = response.get_json()["jobs"]
    assert ["id" in result for result in results] == [True, True, False]
    assert results[2]["error"]["status"] == 429 and results[2]["error"]["retry_after"] == 30


@pytest.mark.parametrize("document, field", [
    ({"jobs": []}, "jobs"),
    ({"jobs": [{"source_url": "https://example.com/a.jpg"}] * 101}, "jobs"),
    ({"job": []}, "jobs"),
    ([], "jobs"),
])
def test_a_malformed_batch_is_refused_whole(document, field, client, backends):
    response = client.post("/jobs/batch", json=document)
    assert response.status_code == 400 and response.get_json()["field"] == field
    assert nothing_queued(backends)


def test_a_batch_of_uploads_is_not_a_batch(client, backends):
    response = client.post("/jobs/batch", data={"image": (io.BytesIO(images.jpeg()), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 415
    big = json.dumps({"jobs": [{"source_url": "https://example.com/" + "a" * 2000}] * 600})
    assert client.post("/jobs/batch", data=big, content_type="application/json").status_code == 413
    assert nothing_queued(backends)


# -- the model and the settings ------------------------------------------------------------


def test_job_documents_without_a_source_read_and_write_as_before():
    old = core.Job().to_dict()
    assert "source_url" not in old and "source" not in old
    assert core.Job.from_dict(old).has_source is False
    by_url = core.Job(source_url="https://example.com/a.jpg")
    assert core.Job.from_json(by_url.to_json()).source_url == "https://example.com/a.jpg"
    with pytest.raises(core.InvalidJob):
        core.Job(source_url="https://example.com/a.jpg", source="s3://images/a.jpg")


@pytest.mark.parametrize("text", ["s3://images", "s3://images/", "s3://Images/a", "s3://a/b", "http://images/a",
                                  "s3://images/" + "k" * 1025, "s3://images/a\nb", "s3://ima..ges/a"])
def test_malformed_object_sources_are_refused(text):
    with pytest.raises(InvalidOption):
        parse_object_source(text)


def test_source_settings_are_read_and_checked(monkeypatch, tmp_path):
    base = {"DATA_DIR": str(tmp_path)}
    settings = core.Settings.from_env({**base, "SOURCE_BUCKETS": "images, photos.archive",
                                       "SOURCE_ALLOW_NETWORKS": "127.0.0.1/32", "SOURCE_TIMEOUT_SECONDS": "2.5"})
    assert settings.source_buckets == ("images", "photos.archive")
    assert settings.source_allow_networks == ("127.0.0.1/32",)
    assert settings.source_timeout_seconds == 2.5
    for name, value in [("SOURCE_BUCKETS", "Not_A_Bucket"), ("SOURCE_ALLOW_NETWORKS", "localhost"),
                        ("SOURCE_TIMEOUT_SECONDS", "0")]:
        with pytest.raises(ConfigurationError, match=name):
            core.Settings.from_env({**base, name: value})
