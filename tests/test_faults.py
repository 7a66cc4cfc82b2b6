"""MinIO and ElasticMQ stopped and started again under a running service (dedicated servers):
the api answers 503 meanwhile and /readyz names the dependency, the thumbnailers back off and
recover on their own, and every job accepted before or after the outage completes."""

from __future__ import annotations

import io
import os
import types

import pytest
import requests

import core
import storage
from processes.waiting import wait_until
from tests import images, processes
from tests.dedicated import DedicatedServers
from tests.environment import alice_http as http

pytestmark = pytest.mark.servers  # MinIO and ElasticMQ of its own, or the shared ElasticMQ

THUMBNAILERS = 2
TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """gunicorn api + two thumbnailers on servers of this module's own."""
    logs = tmp_path_factory.mktemp("outage-logs")
    servers = DedicatedServers(tmp_path_factory.mktemp("services"))
    servers.start()
    port = processes.free_port()
    env = dict(os.environ, **servers.endpoints, STORAGE_URL="s3://thumbnails-faults",
               QUEUE_URL="sqs://thumbnails-faults", WEB_CONCURRENCY="1")
    started, thumbnailers = [], []
    try:
        api = processes.start_api(env, port, logs / "api.log")
        started.append(api)
        thumbnailers += [processes.start_thumbnailer(env, logs / f"thumbnailer-{n}.log")
                         for n in range(THUMBNAILERS)]
        with pytest.MonkeyPatch.context() as patch:
            for name, value in servers.endpoints.items():
                patch.setenv(name, value)  # botocore reads its endpoints when a client is made
            backends = storage.connect(core.Settings.from_env(env))
        yield types.SimpleNamespace(url=f"http://127.0.0.1:{port}", servers=servers, api=api, env=env,
                                    thumbnailers=thumbnailers, backends=backends, logs=logs)
    finally:
        processes.stop(*started, *thumbnailers)
        servers.stop()


def submit(outage, data: bytes | None = None) -> requests.Response:
    return http.post(f"{outage.url}/jobs", files={"image": ("photo.jpg", data or images.jpeg())}, timeout=30)


def accept(outage, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = submit(outage)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def wait_for(condition, what: str, timeout: float = TIMEOUT_SECONDS):
    return wait_until(condition, timeout, interval=0.5, description=what)


def all_complete(outage, job_ids: list[str]) -> None:
    for job_id in job_ids:
        def complete(job_id=job_id):
            response = http.get(f"{outage.url}/jobs/{job_id}", timeout=10)
            assert response.status_code == 200, response.text
            job = response.json()
            assert job["status"] != "failed", job
            return job["status"] == "complete"
        wait_for(complete, f"job {job_id} complete")
        thumbnail = http.get(f"{outage.url}/jobs/{job_id}/thumbnail", timeout=10)
        assert images.decode(thumbnail.content).size == (100, 50)


def log_sizes(outage, pattern: str = "thumbnailer-*.log") -> dict:
    return {path: path.stat().st_size for path in outage.logs.glob(pattern)}


def logged_since(outage, sizes: dict, text: str) -> bool:
    return any(text in path.read_text()[offset:] for path, offset in sizes.items())


def readiness(outage) -> tuple[int, dict]:
    response = http.get(f"{outage.url}/readyz", timeout=30)
    return response.status_code, response.json()["checks"]


def assert_everything_still_runs(outage) -> None:
    assert outage.api.poll() is None
    assert all(thumbnailer.poll() is None for thumbnailer in outage.thumbnailers)


def test_minio_outage(outage):
    # Given jobs accepted before the outage, and one stored but queued only once storage is gone
    before = accept(outage, 3)
    stranded = core.Job(owner="alice")  # the owner of the key the tests send
    outage.backends.jobs.save_input(stranded.id, images.jpeg(), "image/jpeg")
    outage.backends.jobs.save(stranded)
    sizes = log_sizes(outage)

    # When MinIO stops
    outage.servers.stop("minio")
    outage.backends.queue.send(stranded.id)

    # Then the api answers 503 with Retry-After, never 500, and /readyz names storage
    refused = submit(outage)
    assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text
    assert http.get(f"{outage.url}/jobs/{before[0]}", timeout=30).status_code == 503
    assert http.get(f"{outage.url}/jobs/{before[0]}/thumbnail", timeout=30).status_code == 503
    status, checks = readiness(outage)
    assert status == 503 and checks["storage"].startswith("unavailable") and checks["queue"] == "ok"
    assert http.get(f"{outage.url}/healthz", timeout=10).status_code == 200
    # ... and a thumbnailer holding the stranded job backs off instead of failing it
    wait_for(lambda: logged_since(outage, sizes, "dependency unavailable"), "a thumbnailer backing off")

    # When MinIO is back, everything recovers on its own
    outage.servers.start("minio")
    wait_for(lambda: readiness(outage)[0] == 200, "/readyz 200 again")
    after = accept(outage, 3)
    all_complete(outage, before + [stranded.id] + after)
    assert_everything_still_runs(outage)


def test_elasticmq_outage(outage):
    # Given jobs accepted while no thumbnailer runs, so that they wait in the queue
    processes.stop(*outage.thumbnailers)
    before = accept(outage, 3)

    # When ElasticMQ stops, and thumbnailers start while it is away
    outage.servers.stop("elasticmq")
    outage.thumbnailers[:] = [processes.start_thumbnailer(outage.env, outage.logs / f"thumbnailer-late-{n}.log")
                              for n in range(THUMBNAILERS)]
    sizes = log_sizes(outage, "thumbnailer-late-*.log")

    # Then a submission gets 503 with Retry-After, and its job is failed, not pending forever
    refused = submit(outage)
    assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text
    orphan = http.get(f"{outage.url}/jobs/{refused.json()['job']}", timeout=10).json()
    assert (orphan["status"], orphan["code"]) == ("failed", 503) and orphan["message"]
    # ... jobs already accepted still read as pending, and /readyz names the queue
    assert http.get(f"{outage.url}/jobs/{before[0]}", timeout=10).json()["status"] == "pending"
    status, checks = readiness(outage)
    assert status == 503 and checks["queue"].startswith("unavailable") and checks["storage"] == "ok"
    wait_for(lambda: logged_since(outage, sizes, "dependency unavailable"), "a thumbnailer backing off")

    # When ElasticMQ is back, the queued jobs and new ones all complete
    outage.servers.start("elasticmq")
    wait_for(lambda: readiness(outage)[0] == 200, "/readyz 200 again")
    after = accept(outage, 3)
    all_complete(outage, before + after)
    assert_everything_still_runs(outage)


@pytest.fixture
def settings(servers_settings):
    return servers_settings


def test_a_vanished_queue_is_503_at_submit_not_404(client, backends):
    """An in-memory ElasticMQ that restarted has forgotten the queue the api knows by URL."""
    backends.queue.delete_queue()
    try:
        response = client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "photo.jpg")})
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert backends.jobs.load(response.get_json()["job"]).status is core.JobStatus.FAILED
    finally:
        backends.queue.client.create_queue(QueueName=backends.queue.name)  # for the fixture's clean-up
