"""The api through Flask's test client, on the embedded backends."""

import io
import uuid

import pytest
from PIL import Image

import core
from tests import images


def upload(client, data: bytes, filename="photo.jpg"):
    return client.post("/jobs", data={"image": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


class TestApi:
    def test_upload_image_text(self, client):
        response = upload(client, b"this is not an image\n" * 10, "notes.jpg")
        assert response.status_code == 415
        assert "not a supported image" in response.get_json()["message"]

    def test_image_good(self, client, backends):
        response = upload(client, images.jpeg())
        assert response.status_code == 202
        job = response.get_json()
        assert job["status"] == "pending" and job["code"] == 202
        assert response.headers["Location"] == f"http://localhost/jobs/{job['id']}"
        assert job["location"] == response.headers["Location"]

    def test_a_large_multipart_upload_is_accepted(self, client, backends):
        """Werkzeug's form memory bound must not catch file parts: a photo of 1 MB or more is usual."""
        noise = Image.effect_noise((1024, 768), 60).convert("RGB")
        data = images.encode(noise, "JPEG", quality=95)
        assert len(data) > 512 * 1024
        response = upload(client, data)
        assert response.status_code == 202, response.get_data(as_text=True)
        assert backends.jobs.load_input(response.get_json()["id"]).data == data

    def test_job_pending(self, client):
        job_id = upload(client, images.jpeg()).get_json()["id"]
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200
        assert response.get_json()["status"] == "pending"

    def test_job_nonexisting(self, client):
        response = client.get(f"/jobs/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.is_json and response.get_json()["message"]


class TestSubmission:
    def test_submission_stores_job_and_input_then_enqueues_only_the_id(self, client, backends):
        data = images.png_with_alpha()
        job_id = upload(client, data, "a.png").get_json()["id"]

        assert backends.jobs.load(job_id).status is core.JobStatus.PENDING
        stored = backends.jobs.load_input(job_id)
        assert stored.data == data and stored.content_type == "image/png"
        messages = backends.queue.receive(wait_seconds=5)
        assert [m.body for m in messages] == [job_id]

    def test_raw_body_with_image_content_type(self, client, backends):
        response = client.post("/jobs", data=images.jpeg(), content_type="image/jpeg")
        assert response.status_code == 202

    def test_content_is_checked_not_the_name_or_declared_type(self, client):
        response = client.post("/jobs", data=b"GIF89a but not really", content_type="image/gif")
        assert response.status_code == 415

    @pytest.mark.parametrize("body, content_type, status, words", [
        (b"", "image/jpeg", 400, "empty"),
        (b"{}", "application/json", 400, "source_url or source"),
        (b"hello", "text/plain", 415, "multipart"),
    ])
    def test_bad_raw_bodies(self, client, body, content_type, status, words):
        response = client.post("/jobs", data=body, content_type=content_type)
        assert response.status_code == status and words in response.get_json()["message"]

    def test_multipart_without_the_image_field(self, client):
        response = client.post("/jobs", data={"file": (io.BytesIO(images.jpeg()), "a.jpg")},
                               content_type="multipart/form-data")
        assert response.status_code == 400 and "'image'" in response.get_json()["message"]

    def test_multipart_with_two_files(self, client):
        data = {"image": [(io.BytesIO(images.jpeg()), "a.jpg"), (io.BytesIO(images.jpeg()), "b.jpg")]}
        response = client.post("/jobs", data=data, content_type="multipart/form-data")
        assert response.status_code == 400 and "exactly one" in response.get_json()["message"]

    def test_truncated_image(self, client):
        data = images.jpeg(800, 600)
        response = upload(client, data[: len(data) * 2 // 3])
        assert response.status_code == 400 and "truncated" in response.get_json()["message"]

    def test_decompression_bomb_is_refused_from_its_header(self, client):
        response = upload(client, images.png_bomb(), "bomb.png")
        assert response.status_code == 413 and "pixels" in response.get_json()["message"]

    def test_upload_over_the_size_limit(self, client, settings):
        too_big = images.jpeg() + b"\0" * settings.max_upload_bytes
        response = upload(client, too_big)
        assert response.status_code == 413 and response.is_json
        response = client.post("/jobs", data=too_big, content_type="image/jpeg")
        assert response.status_code == 413 and response.is_json

    def test_enqueue_failure_answers_503_and_fails_the_job(self, client, backends, monkeypatch):
        def unavailable(body):
            raise core.TransientError("queue down")

        monkeypatch.setattr(backends.queue, "send", unavailable)
        response = upload(client, images.jpeg())
        assert response.status_code == 503 and response.headers["Retry-After"]
        job = backends.jobs.load(response.get_json()["job"])
        assert job.status is core.JobStatus.FAILED and job.code == 503


class TestThumbnailDownload:
    def test_pending_job_has_no_thumbnail_yet(self, client):
        job_id = upload(client, images.jpeg()).get_json()["id"]
        response = client.get(f"/jobs/{job_id}/thumbnail")
        assert response.status_code == 409
        assert response.get_json()["status"] == "pending"

    def test_complete_job_serves_its_thumbnail(self, client, backends):
        job_id = upload(client, images.jpeg()).get_json()["id"]
        job = backends.jobs.load(job_id)
        job.start_processing()
        backends.jobs.save_output(job_id, 0, b"\xff\xd8thumb", "image/jpeg")
        job.complete()
        backends.jobs.save(job)

        status = client.get(f"/jobs/{job_id}").get_json()
        assert status["location"] == f"http://localhost/jobs/{job_id}/thumbnail"
        response = client.get(status["location"])
        assert response.status_code == 200
        assert response.content_type == "image/jpeg" and response.data == b"\xff\xd8thumb"

    @pytest.mark.parametrize("path", ["/jobs/not-a-uuid", "/jobs/not-a-uuid/thumbnail",
                                      "/jobs/00000000-0000-4000-8000-000000000000/thumbnail", "/nowhere"])
    def test_unknown_paths_are_json_404(self, client, path):
        response = client.get(path)
        assert response.status_code == 404 and response.is_json


class TestHealth:
    def test_healthz(self, client):
        assert client.get("/healthz").get_json() == {"status": "ok"}

    def test_readyz_when_both_answer(self, client):
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.get_json()["checks"] == {"storage": "ok", "queue": "ok"}

    def test_readyz_names_the_missing_dependency(self, client, backends, monkeypatch):
        def down():
            raise core.TransientError("connection refused")

        monkeypatch.setattr(backends.queue, "ping", down)
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.get_json()["checks"]
        assert checks["storage"] == "ok" and "unavailable" in checks["queue"]

    def test_storage_outage_is_503_not_500(self, client, backends, monkeypatch):
        def down(*args, **kwargs):
            raise core.TransientError("connection refused")

        monkeypatch.setattr(backends.objects, "get", down)
        response = client.get(f"/jobs/{uuid.uuid4()}")
        assert response.status_code == 503 and response.headers["Retry-After"]


def test_the_upload_page_is_served_at_the_root(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b'src="static/app.js"' in page.data
    for asset, mimetype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and response.mimetype == mimetype
