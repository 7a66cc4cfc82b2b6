"""Images by URL and by object key end to end: a gunicorn api and a thumbnailer process on the
real MinIO and ElasticMQ, driven over HTTP as curl would; the image comes from a local HTTP
server (127.0.0.1, allowed by SOURCE_ALLOW_NETWORKS) or from a second MinIO bucket
(SOURCE_BUCKETS)."""

from __future__ import annotations

import os

import pytest
import requests

import core
import storage
from storage.aws import make_client
from storage.objects.s3 import S3ObjectStore
from tests import images
from tests.environment import ALICE, RUN_ID
from tests.processes import free_port, start_api, start_thumbnailer, stop, wait_until_up
from tests.sources import SourceServer
from tests.waiting import poll_until_finished

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def source_bucket(servers):
    """A bucket the service may read images from, beside its own; removed afterwards."""
    objects = S3ObjectStore(make_client("s3", "path"), f"{RUN_ID}-src")
    objects.ensure()
    objects.put("photos/portrait.jpg", images.jpeg(200, 400), "image/jpeg")
    objects.put("notes/readme.txt", b"not an image", "text/plain")
    yield objects
    objects.delete_bucket()


@pytest.fixture(scope="module")
def origin():
    with SourceServer() as server:
        yield server


@pytest.fixture(scope="module")
def service(bucket_name, source_bucket, tmp_path_factory):
    port = free_port()
    logs = tmp_path_factory.mktemp("logs")
    env = dict(os.environ, STORAGE_URL=f"s3://{bucket_name}", QUEUE_URL=f"sqs://{RUN_ID}-sources", PORT=str(port),
               WEB_CONCURRENCY="1", THUMBNAILER_PROCESSES="1", PYTHONUNBUFFERED="1",
               SOURCE_BUCKETS=source_bucket.bucket, SOURCE_ALLOW_NETWORKS="127.0.0.1/32")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    api = start_api(env, port, logs / "api.log")
    thumbnailer = start_thumbnailer(env, logs / "thumbnailer.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/readyz", api)
        yield base
    finally:
        stop(thumbnailer, api)
        for made in storage.connect(core.Settings.from_env(env)).queues:
            made.delete_queue()


def finished(response: requests.Response) -> dict:
    assert response.status_code == 202, response.text
    return poll_until_finished(response.headers["Location"])


def thumbnail(job: dict):
    download = requests.get(job["location"], headers=ALICE, timeout=10)
    assert download.status_code == 200
    return images.decode(download.content)


def test_a_job_by_source_url_completes(service, origin):
    url = origin.url("/redirect/2")
    job = finished(requests.post(f"{service}/jobs", json={"source_url": url}, headers=ALICE, timeout=30))
    assert job["status"] == "complete" and job["source_url"] == url, job
    assert thumbnail(job).size == (100, 50)
    assert origin.requests[-3:] == ["/redirect/2", "/redirect/1", "/image.jpg"]


def test_a_job_by_object_key_completes(service, source_bucket):
    source = f"s3://{source_bucket.bucket}/photos/portrait.jpg"
    job = finished(requests.post(f"{service}/jobs", json={"source": source, "outputs": {"size": "40,40"}},
                                 headers=ALICE, timeout=30))
    assert job["status"] == "complete" and job["source"] == source, job
    assert thumbnail(job).size == (20, 40)


def test_a_batch_mixes_urls_and_keys_and_reports_failures(service, origin, source_bucket):
    bucket = source_bucket.bucket
    response = requests.post(f"{service}/jobs/batch", headers=ALICE, timeout=30, json={"jobs": [
        {"source_url": origin.url("/image.jpg")},
        {"source": f"s3://{bucket}/photos/portrait.jpg"},
        {"source": f"s3://{bucket}/no/such.jpg"},
        {"source": f"s3://{bucket}/notes/readme.txt"},
        {"source": "s3://some-other-bucket/a.jpg"},
    ]})
    assert response.status_code == 202
    *accepted, refused = response.json()["jobs"]
    assert refused["error"]["status"] == 400 and refused["error"]["field"] == "jobs[4].source"
    done = [poll_until_finished(job["location"]) for job in accepted]
    assert [job["status"] for job in done] == ["complete", "complete", "failed", "failed"]
    assert (done[2]["code"], done[3]["code"]) == (422, 415)
    assert done[2]["message"] == "source_unreachable: no such object, or no such bucket"
    assert done[3]["message"].startswith("source_not_an_image: ")
