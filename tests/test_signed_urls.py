"""Signed output URLs and HTTP caching through the api (Flask's test client, embedded backends)."""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import storage
from core import signing
from storage.secrets import shared_secret
from tests import images

THUMB = b"\xff\xd8a thumbnail"
SECOND = b"\x89PNG another output"


def submit(client, **fields) -> str:
    data = {"image": (io.BytesIO(images.jpeg()), "photo.jpg"), **fields}
    response = client.post("/jobs", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def complete(backends, job_id: str, outputs=(THUMB,), finished_ago_seconds: float = 0) -> None:
    job = backends.jobs.load(job_id)
    job.start_processing()
    for index, data in enumerate(outputs):
        backends.jobs.save_output(job_id, index, data, "image/jpeg")
    job.complete()
    job.finish -= timedelta(seconds=finished_ago_seconds)
    backends.jobs.save(job)


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def done(client, backends):
    """A complete job of two outputs, and its document as its owner sees it."""
    job_id = submit(client, output='[{"size": "100,100"}, {"size": "50,50", "format": "png"}]')
    complete(backends, job_id, (THUMB, SECOND))
    return client.get(f"/jobs/{job_id}").get_json()


class TestTheDocument:
    def test_each_output_of_a_complete_job_has_a_signed_url(self, done):
        urls = [output["signed_url"] for output in done["outputs"]]
        for index, url in enumerate(urls):
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}{parts.path}" == done["outputs"][index]["url"]
            assert set(parse_qs(parts.query)) == {"expires", "signature"}
        expires = int(parse_qs(urlsplit(urls[0]).query)["expires"][0])
        assert done["signed_urls_expire"] == datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
        finish = datetime.fromisoformat(done["finish"]).timestamp()
        assert expires == int(finish) + 7 * 24 * 3600  # SIGNED_URL_TTL_SECONDS' default, from the finish

    def test_the_urls_are_the_same_at_every_read_so_caches_keep_them(self, client, done):
        again = client.get(f"/jobs/{done['id']}").get_json()
        assert [o["signed_url"] for o in again["outputs"]] == [o["signed_url"] for o in done["outputs"]]

    def test_a_job_not_complete_has_none(self, client):
        job = client.get(f"/jobs/{submit(client)}").get_json()
        assert job["outputs"][0]["signed_url"] is None and job["signed_urls_expire"] is None

    def test_url_ttl_seconds_is_chosen_at_submit(self, client, backends):
        job_id = submit(client, url_ttl_seconds="600")
        complete(backends, job_id)
        job = client.get(f"/jobs/{job_id}").get_json()
        assert job["url_ttl_seconds"] == 600
        expires = int(parse_qs(urlsplit(job["outputs"][0]["signed_url"]).query)["expires"][0])
        assert expires == int(datetime.fromisoformat(job["finish"]).timestamp()) + 600

    def test_url_ttl_seconds_is_capped_by_the_retention(self, client, settings):
        job_id = submit(client, url_ttl_seconds=str(settings.retention_seconds * 10))
        assert client.get(f"/jobs/{job_id}").get_json()["url_ttl_seconds"] == settings.retention_seconds

    @pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5", "9" * 20])
    def test_a_bad_url_ttl_seconds_is_a_400_naming_it(self, client, value):
        data = {"image": (io.BytesIO(images.jpeg()), "photo.jpg"), "url_ttl_seconds": value}
        response = client.post("/jobs", data=data, content_type="multipart/form-data")
        assert response.status_code == 400 and response.get_json()["field"] == "url_ttl_seconds"

    def test_once_expired_the_document_offers_no_signed_url(self, client, backends):
        job_id = submit(client, url_ttl_seconds="60")
        complete(backends, job_id, finished_ago_seconds=120)
        job = client.get(f"/jobs/{job_id}").get_json()
        assert job["status"] == "complete" and job["outputs"][0]["signed_url"] is None


class TestSignedDownloads:
    def test_without_a_key_it_serves_the_output_publicly_cacheable(self, anonymous, done):
        for index, data in enumerate((THUMB, SECOND)):
            response = anonymous.get(relative(done["outputs"][index]["signed_url"]))
            assert response.status_code == 200 and response.data == data
            cache = response.cache_control
            assert cache.public and cache.immutable and not cache.private
            assert 7 * 24 * 3600 - 60 < cache.max_age <= 7 * 24 * 3600
            etag, weak = response.get_etag()
            assert etag and not weak
            assert response.last_modified == datetime.fromisoformat(done["finish"]).replace(microsecond=0)

    def test_a_repeat_with_its_etag_is_a_304_without_a_body(self, anonymous, done):
        url = relative(done["outputs"][0]["signed_url"])
        first = anonymous.get(url)
        again = anonymous.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.cache_control.public and again.cache_control.immutable
        other = anonymous.get(url, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.data == THUMB

    def test_head_answers_the_headers_alone(self, anonymous, done):
        url = relative(done["outputs"][0]["signed_url"])
        got = anonymous.get(url)
        head = anonymous.head(url)
        assert head.status_code == 200 and head.data == b""
        for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
            assert head.headers[name] == got.headers[name], name
        assert anonymous.head(url, headers={"If-None-Match": got.headers["ETag"]}).status_code == 304

    def test_each_output_has_its_own_etag(self, anonymous, done):
        etags = {anonymous.get(relative(output["signed_url"])).headers["ETag"] for output in done["outputs"]}
        assert len(etags) == 2

    def test_the_thumbnail_route_takes_its_own_signature(self, anonymous, app, done):
        path = f"/jobs/{done['id']}/thumbnail"
        with app.app_context():
            from api.signing import secret
            key = secret()
        query = signing.signed_query(key, path, int(time.time()) + 60)
        response = anonymous.get(f"{path}?{query}")
        assert response.status_code == 200 and response.data == THUMB
        # output 0's signature does not open the thumbnail route
        output_query = urlsplit(done["outputs"][0]["signed_url"]).query
        assert anonymous.get(f"{path}?{output_query}").status_code == 403


class TestRefusals:
    def _refusal(self, anonymous, url: str):
        response = anonymous.get(url)
        assert response.status_code == 403, response.data
        return response.get_json()

    def test_tampered_urls_get_one_403_whether_or_not_the_job_exists(self, anonymous, done):
        url = relative(done["outputs"][0]["signed_url"])
        path, query = url.split("?")
        fields = parse_qs(query)
        signature, expires = fields["signature"][0], int(fields["expires"][0])
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        missing_job = path.replace(done["id"], "00000000-0000-4000-8000-000000000000")
        bodies = [
            self._refusal(anonymous, f"{path}?expires={expires}&signature={flipped}"),
            self._refusal(anonymous, f"{path}?expires={expires + 1}&signature={signature}"),
            self._refusal(anonymous, f"{path.replace('/outputs/0', '/outputs/1')}?{query}"),
            self._refusal(anonymous, f"{missing_job}?{query}"),
            self._refusal(anonymous, f"{missing_job.replace('/outputs/0', '/outputs/7')}?{query}"),
            self._refusal(anonymous, f"{path}?expires={expires}"),
            self._refusal(anonymous, f"{path}?signature={signature}"),
            self._refusal(anonymous, f"/jobs/not-a-job/outputs/0?{query}"),
        ]
        assert all(body == bodies[0] for body in bodies), bodies
        assert set(bodies[0]) == {"error", "message"} and bodies[0]["error"] == "Forbidden"

    def test_an_expired_url_gets_the_same_403(self, anonymous, app, client, backends):
        job_id = submit(client, url_ttl_seconds="60")
        complete(backends, job_id, finished_ago_seconds=120)
        path = f"/jobs/{job_id}/outputs/0"
        with app.app_context():
            from api.signing import secret
            key = secret()
        expired = int(time.time()) - 60
        body = self._refusal(anonymous, f"{path}?{signing.signed_query(key, path, expired)}")
        other = self._refusal(anonymous, f"{path}?expires=1&signature={'A' * 43}")
        assert body == other

    def test_a_url_signed_with_another_secret_is_refused(self, anonymous, done):
        path = urlsplit(done["outputs"][0]["signed_url"]).path
        forged = signing.signed_query(b"not-the-server-secret-0123456789abcdef", path, int(time.time()) + 60)
        self._refusal(anonymous, f"{path}?{forged}")

    def test_a_signature_opens_outputs_only(self, anonymous, done):
        query = urlsplit(done["outputs"][0]["signed_url"]).query
        for path in (f"/jobs/{done['id']}", "/jobs"):
            assert anonymous.get(f"{path}?{query}").status_code == 401

    def test_a_deleted_job_s_urls_stop_working(self, anonymous, client, done):
        url = relative(done["outputs"][0]["signed_url"])
        assert client.delete(f"/jobs/{done['id']}").status_code == 204
        response = anonymous.get(url)
        assert response.status_code == 404 and response.is_json

    def test_a_job_past_its_retention_is_gone(self, anonymous, client, backends, settings):
        job_id = submit(client)
        complete(backends, job_id)
        url = relative(client.get(f"/jobs/{job_id}").get_json()["outputs"][0]["signed_url"])
        complete_long_ago = backends.jobs.load(job_id)
        complete_long_ago.finish -= timedelta(seconds=settings.retention_seconds + 10)
        backends.jobs.save(complete_long_ago)
        assert anonymous.get(url).status_code == 410


class TestHistory:
    @pytest.fixture
    def settings(self, embedded_settings, tmp_path):
        return dataclasses.replace(embedded_settings, jobs_url=f"sqlite://{(tmp_path / 'jobs.db').as_posix()}")

    def test_listed_jobs_carry_the_same_signed_urls(self, client, anonymous, backends, done):
        (listed,) = [job for job in client.get("/jobs").get_json()["jobs"] if job["id"] == done["id"]]
        assert [o["signed_url"] for o in listed["outputs"]] == [o["signed_url"] for o in done["outputs"]]
        assert listed["signed_urls_expire"] == done["signed_urls_expire"]
        assert anonymous.get(relative(listed["outputs"][1]["signed_url"])).data == SECOND


class TestKeyedDownloads:
    def test_they_stay_private_with_the_same_validators(self, client, done):
        path = urlsplit(done["outputs"][0]["url"]).path
        response = client.get(path)
        assert response.status_code == 200 and response.data == THUMB
        assert response.cache_control.private and response.cache_control.max_age == 3600
        assert not response.cache_control.public and not response.cache_control.immutable
        assert response.get_etag()[0] and response.last_modified
        again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        head = client.head(path)
        assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == response.headers["ETag"]


class TestTheSecret:
    def test_a_configured_secret_signs(self, settings, backends, anonymous):
        from api import create_app

        configured = dataclasses.replace(settings, url_signing_secret="s" * 40)
        client = create_app(configured, backends).test_client()
        from tests.environment import ALICE

        client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
        job_id = submit(client)
        complete(backends, job_id)
        url = client.get(f"/jobs/{job_id}").get_json()["outputs"][0]["signed_url"]
        fields = parse_qs(urlsplit(url).query)
        path = urlsplit(url).path
        assert signing.verify(b"s" * 40, path, fields["expires"][0], fields["signature"][0], time.time())
        assert client.get(relative(url), headers={"Authorization": ""}).status_code == 200
        # the other app, with the stored secret, refuses it
        assert anonymous.get(relative(url)).status_code == 403

    @pytest.mark.parametrize("store", ["embedded", pytest.param("servers", marks=pytest.mark.servers)])
    def test_without_one_every_process_shares_the_one_made_in_the_store(self, store, request):
        settings = request.getfixturevalue("embedded_settings" if store == "embedded" else "servers_settings")
        backends = storage.connect(settings)
        backends.objects.ensure()
        found: list[bytes] = []
        threads = [threading.Thread(target=lambda: found.append(shared_secret(backends.objects, "race")))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(found)) == 1 and len(found[0]) >= 32
        assert shared_secret(backends.objects, "race") == found[0]


class TestS3PresignedUrls:
    """SIGNED_URLS=s3: the document's signed URLs are S3 pre-signed GETs (the real MinIO)."""

    @pytest.fixture
    def settings(self, servers_settings):
        return dataclasses.replace(servers_settings, signed_urls="s3")

    def test_the_bytes_come_from_the_bucket_without_a_key(self, client, backends):
        job_id = submit(client)
        complete(backends, job_id)
        job = client.get(f"/jobs/{job_id}").get_json()
        url = job["outputs"][0]["signed_url"]
        assert url.startswith(os.environ["AWS_ENDPOINT_URL_S3"]) and "X-Amz-Signature=" in url
        expires = datetime.fromisoformat(job["signed_urls_expire"]).timestamp()
        assert 0 < expires - time.time() <= 7 * 24 * 3600

        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200 and fetched.content == THUMB
        cache = fetched.headers["Cache-Control"]
        assert cache.startswith("public, max-age=") and cache.endswith(", immutable")
        again = requests.get(url, headers={"If-None-Match": fetched.headers["ETag"]}, timeout=10)
        assert again.status_code == 304

        tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        assert requests.get(tampered, timeout=10).status_code == 403

    def test_a_job_not_complete_has_none(self, client):
        assert client.get(f"/jobs/{submit(client)}").get_json()["outputs"][0]["signed_url"] is None

    def test_the_page_may_show_images_from_the_bucket(self, client):
        policy = client.get("/").headers["Content-Security-Policy"]
        assert f"img-src 'self' {os.environ['AWS_ENDPOINT_URL_S3']} blob: data:;" in policy


def test_the_page_shows_images_from_its_own_origin_and_public_url(settings, backends):
    from api import create_app

    assert "img-src 'self' blob: data:;" in create_app(settings, backends).test_client().get(
        "/").headers["Content-Security-Policy"]
    public = dataclasses.replace(settings, public_url="https://thumbs.example.com/base/")
    policy = create_app(public, backends).test_client().get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' https://thumbs.example.com blob: data:;" in policy
