"""Keys, ownership, cancel, expiry, rate limits and request ids, through the api (embedded backends;
the lifecycle rule is MinIO's)."""

import dataclasses
import datetime
import functools
import io
import uuid

import pytest

import core
from api import create_app
from tests import images
from tests.environment import ALICE, BOB
from thumbnailer.worker import Worker

WRONG = {"Authorization": "Bearer thk_00000000_not-a-real-key"}


def submit(client, headers=ALICE):
    data = {"image": (io.BytesIO(images.jpeg()), "photo.jpg")}
    return client.post("/jobs", data=data, content_type="multipart/form-data", headers=headers)


def finish(backends, settings):
    Worker(backends, settings).work(burst=True)


def endpoints(job_id):
    return [("post", "/jobs"), ("get", f"/jobs/{job_id}"), ("get", f"/jobs/{job_id}/thumbnail"),
            ("delete", f"/jobs/{job_id}")]


class TestAuthentication:
    @pytest.mark.parametrize("headers", [{}, WRONG, {"Authorization": "Basic YWxpY2U6eA=="}],
                             ids=["no key", "wrong key", "wrong scheme"])
    def test_every_job_endpoint_refuses_without_a_valid_key(self, anonymous, client, headers):
        job_id = submit(client).get_json()["id"]
        for method, path in endpoints(job_id):
            response = getattr(anonymous, method)(path, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
            assert response.get_json()["error"] == "Unauthorized"

    def test_probes_and_metrics_need_no_key(self, anonymous):
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").status_code == 200
        assert anonymous.get("/metrics").status_code == 200

    def test_anonymous_uploads_only_when_allowed(self, settings, backends):
        open_app = create_app(dataclasses.replace(settings, allow_anonymous=True), backends).test_client()
        response = submit(open_app, headers={})
        assert response.status_code == 202 and response.get_json()["owner"] == "anonymous"
        assert submit(open_app, headers=WRONG).status_code == 401  # a wrong key is still wrong


class TestOwnership:
    def test_the_job_records_its_owner(self, client, backends):
        job_id = submit(client).get_json()["id"]
        assert backends.jobs.load(job_id).owner == "alice"

    def test_another_owners_job_looks_exactly_like_a_missing_one(self, client, backends, settings):
        job_id = submit(client).get_json()["id"]
        finish(backends, settings)
        missing_id = str(uuid.uuid4())
        for (method, path), (_, missing_path) in zip(endpoints(job_id)[1:], endpoints(missing_id)[1:], strict=True):
            theirs = getattr(client, method)(path, headers=BOB)
            missing = getattr(client, method)(missing_path, headers=BOB)
            assert theirs.status_code == missing.status_code == 404
            assert theirs.data == missing.data
        assert client.get(f"/jobs/{job_id}").status_code == 200  # still there for Alice


class TestCancel:
    def test_cancel_pending_job(self, client, backends, settings):
        job_id = submit(client).get_json()["id"]
        response = client.delete(f"/jobs/{job_id}")
        assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
        with pytest.raises(core.NotFound):
            backends.jobs.load_input(job_id)
        finish(backends, settings)  # the thumbnailer skips it
        assert backends.jobs.load(job_id).status is core.JobStatus.CANCELLED
        assert client.get(f"/jobs/{job_id}/thumbnail").status_code == 409

    def test_cancel_processing_job(self, client, backends):
        job_id = submit(client).get_json()["id"]
        job = backends.jobs.load(job_id)
        job.start_processing()
        backends.jobs.save(job)
        assert client.delete(f"/jobs/{job_id}").get_json()["status"] == "cancelled"

    def test_delete_finished_job_removes_everything(self, client, backends, settings):
        job_id = submit(client).get_json()["id"]
        finish(backends, settings)
        assert client.get(f"/jobs/{job_id}").get_json()["status"] == "complete"
        response = client.delete(f"/jobs/{job_id}")
        assert response.status_code == 204
        thumbnail = functools.partial(backends.jobs.load_output, index=0)
        for load in (backends.jobs.load, backends.jobs.load_input, thumbnail):
            with pytest.raises(core.NotFound):
                load(job_id)
        assert client.get(f"/jobs/{job_id}").status_code == 404


class TestExpiry:
    def test_expired_output_is_gone_and_removed(self, settings, backends):
        settings = dataclasses.replace(settings, retention_seconds=3600)
        client = create_app(settings, backends).test_client()
        job_id = submit(client).get_json()["id"]
        finish(backends, settings)
        assert client.get(f"/jobs/{job_id}/thumbnail", headers=ALICE).status_code == 200
        job = backends.jobs.load(job_id)  # as if it had finished more than the retention period ago
        job.finish -= datetime.timedelta(seconds=settings.retention_seconds + 1)
        backends.jobs.save(job)
        response = client.get(f"/jobs/{job_id}/thumbnail", headers=ALICE)
        assert response.status_code == 410 and "removed" in response.get_json()["message"]
        assert client.get(f"/jobs/{job_id}", headers=ALICE).status_code == 410
        thumbnail = functools.partial(backends.jobs.load_output, index=0)
        for load in (backends.jobs.load_input, thumbnail):
            with pytest.raises(core.NotFound):
                load(job_id)


class TestExpiryOnMinio:
    @pytest.fixture
    def settings(self, servers_settings):
        return servers_settings

    def test_the_bucket_gets_a_lifecycle_rule(self, settings, backends):
        create_app(dataclasses.replace(settings, retention_seconds=3 * 86400), backends)
        [rule] = backends.objects.lifecycle_rules()
        assert rule["Filter"]["Prefix"] == "jobs/" and rule["Expiration"]["Days"] == 4


class TestRateLimit:
    def test_over_the_limit_is_429_with_retry_after(self, settings, backends):
        client = create_app(dataclasses.replace(settings, rate_limit_per_minute=2), backends).test_client()
        missing = f"/jobs/{uuid.uuid4()}"
        assert [client.get(missing, headers=ALICE).status_code for _ in range(2)] == [404, 404]
        limited = client.get(missing, headers=ALICE)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.get_json()["error"] == "Too Many Requests"
        assert client.get(missing, headers=BOB).status_code == 404  # Bob has his own budget


class TestRequestIds:
    def test_a_sane_request_id_is_echoed(self, client):
        response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"

    def test_a_missing_or_odd_request_id_is_replaced(self, client):
        made = client.get("/healthz").headers["X-Request-ID"]
        odd = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces and ; semicolons"})
        odd = odd.headers["X-Request-ID"]
        assert len(made) == 32 and len(odd) == 32 and made != odd


class TestCancelRaces:
    def test_cancel_that_loses_to_a_thumbnailer_decides_again(self, client, backends, settings, monkeypatch):
        job_id = submit(client).get_json()["id"]
        real_save = backends.jobs.save
        raced = []

        def thumbnailer_finishes_first(job):
            if job.status is core.JobStatus.CANCELLED and not raced:
                raced.append(True)
                finish(backends, settings)  # the job completes between the api's read and write
            return real_save(job)

        monkeypatch.setattr(backends.jobs, "save", thumbnailer_finishes_first)
        response = client.delete(f"/jobs/{job_id}")
        assert raced and response.status_code == 204  # it found the job complete, so deleted it
        with pytest.raises(core.NotFound):
            backends.jobs.load(job_id)
