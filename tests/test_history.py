"""GET /jobs and GET /jobs/summary through the api: own jobs only, filters, paging, expiry,
gauges; and a clear 501 where job records are documents in the object store."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import pytest

import core
import storage
from tests import images
from tests.databases import job_store_url
from tests.environment import ALICE, BOB

HISTORY_STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)]


def embedded_settings(tmp_path, jobs_url: str) -> core.Settings:
    return core.Settings.from_env(os.environ, storage_url=(tmp_path / "objects").as_uri(),
                                  queue_url=f"sqlite://{(tmp_path / 'queue.db').as_posix()}",
                                  queue_url_high="", queue_url_low="", jobs_url=jobs_url)


def make_app(settings: core.Settings):
    from api import create_app

    app = create_app(settings, storage.connect(settings))
    app.config["TESTING"] = True
    return app


@pytest.fixture(params=HISTORY_STORES)
def app(request, tmp_path):
    return make_app(embedded_settings(tmp_path, job_store_url(request.param, request, tmp_path)))


@pytest.fixture
def alice(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
    return client


@pytest.fixture
def bob(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = BOB["Authorization"]
    return client


def submit(client, **fields) -> str:
    response = client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "photo.jpg"), **fields})
    assert response.status_code == 202, response.json
    return response.json["id"]


def store(app) -> storage.JobStore:
    return app.extensions["thumbnails.backends"].jobs


def fresh_owner(app, client):
    """PostgreSQL's database is shared by the run: count only jobs made by this test."""
    return {job["id"] for job in client.get("/jobs?limit=500").json["jobs"]}


class TestList:
    def test_own_jobs_newest_first_in_pages(self, alice):
        before = fresh_owner(None, alice)
        made = [submit(alice) for _ in range(5)]
        seen, cursor = [], None
        while True:
            response = alice.get("/jobs", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert response.status_code == 200, response.json
            seen += [job["id"] for job in response.json["jobs"] if job["id"] not in before]
            cursor = response.json["next"]
            if cursor is None:
                break
        assert seen == made[::-1]

    def test_another_owners_jobs_never_appear(self, alice, bob):
        mine = submit(alice)
        theirs = submit(bob)
        listed = {job["id"] for job in alice.get("/jobs?limit=500").json["jobs"]}
        assert mine in listed and theirs not in listed
        assert {job["owner"] for job in alice.get("/jobs?limit=500").json["jobs"]} == {"alice"}

    def test_a_listed_job_looks_like_its_status_page(self, alice):
        job_id = submit(alice, priority="high")
        [listed] = [job for job in alice.get("/jobs?priority=high&limit=500").json["jobs"] if job["id"] == job_id]
        single = alice.get(f"/jobs/{job_id}").json
        assert {**listed, "expired": False} == {**single, "expired": False}
        assert listed["expired"] is False

    def test_status_filter_takes_several(self, app, alice):
        pending, cancelled = submit(alice), submit(alice)
        assert alice.delete(f"/jobs/{cancelled}").status_code == 200
        both = alice.get("/jobs?status=pending,cancelled&limit=500").json["jobs"]
        assert {pending, cancelled} <= {job["id"] for job in both}
        repeated = alice.get("/jobs?status=cancelled&status=failed&limit=500").json["jobs"]
        assert cancelled in {job["id"] for job in repeated} and pending not in {job["id"] for job in repeated}

    def test_since_and_until(self, alice):
        job_id = submit(alice)
        now = datetime.now(UTC)
        window = {"since": (now - timedelta(minutes=5)).isoformat(), "until": (now + timedelta(minutes=5)).isoformat()}
        assert job_id in {job["id"] for job in alice.get("/jobs", query_string={**window, "limit": 500}).json["jobs"]}
        later = {"since": (now + timedelta(minutes=5)).isoformat()}
        assert job_id not in {job["id"] for job in alice.get("/jobs", query_string=later).json["jobs"]}

    def test_an_expired_job_is_listed_without_download_links(self, app, alice):
        job_id = submit(alice)
        jobs = store(app)
        job = jobs.load(job_id)
        job.fail(415, "not an image")
        job.finish = datetime.now(UTC) - timedelta(seconds=app.extensions["thumbnails.settings"].retention_seconds + 60)
        jobs.save(job)
        [listed] = [job for job in alice.get("/jobs?limit=500").json["jobs"] if job["id"] == job_id]
        assert listed["expired"] is True
        assert listed["location"].endswith(f"/jobs/{job_id}")
        assert all("url" not in output for output in listed["outputs"])

    @pytest.mark.parametrize("query, field", [
        ("status=done", "status"), ("priority=urgent", "priority"), ("limit=0", "limit"), ("limit=501", "limit"),
        ("limit=ten", "limit"), ("since=yesterday", "since"), ("cursor=forged", "cursor"), ("sort=asc", "sort"),
    ])
    def test_bad_parameters_are_a_400_naming_the_field(self, alice, query, field):
        response = alice.get(f"/jobs?{query}")
        assert response.status_code == 400, response.json
        assert response.json["field"] == field

    def test_without_a_key_it_is_401(self, app):
        assert app.test_client().get("/jobs").status_code == 401


class TestSummary:
    def test_counts_and_oldest_pending(self, alice):
        before = alice.get("/jobs/summary").json
        submit(alice)
        submit(alice, priority="low")
        after = alice.get("/jobs/summary").json
        assert after["total"] == before["total"] + 2
        pending = after["counts"]["pending"]
        assert pending.get("low", 0) == before["counts"].get("pending", {}).get("low", 0) + 1
        assert after["oldest_pending"] is not None and after["oldest_pending_age_seconds"] >= 0

    def test_gauges_count_active_jobs_of_every_owner(self, alice, bob, app):
        submit(alice)
        submit(bob)
        text = app.test_client().get("/metrics").get_data(as_text=True)
        line = next(line for line in text.splitlines()
                    if line.startswith('thumbnails_jobs_active{priority="normal",status="pending"}'))
        assert float(line.split()[-1]) >= 2
        assert "thumbnails_oldest_pending_job_seconds" in text


class TestNoHistoryOnDocuments:
    def test_the_answer_names_the_configurations_that_keep_history(self, tmp_path):
        client = make_app(embedded_settings(tmp_path, "")).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
        for path in ("/jobs", "/jobs/summary"):
            response = client.get(path)
            assert response.status_code == 501, response.json
            assert "JOBS_URL" in response.json["message"]
        assert client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "p.jpg")}).status_code == 202
