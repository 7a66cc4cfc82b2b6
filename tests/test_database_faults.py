"""PostgreSQL stopped and started again under the api and a thumbnailer (a cluster of this
module's own, never the shared one): the api answers 503 meanwhile and /readyz names the job
database, nothing answers 500, and every job accepted before or after the outage completes."""

from __future__ import annotations

import io
import os
import subprocess
import threading

import pytest

import core
import storage
from tests import images
from tests.databases import POSTGRES_SCRIPT
from tests.environment import ALICE
from tests.processes import free_port
from thumbnailer.worker import Worker

pytestmark = pytest.mark.servers


class DedicatedPostgres:
    def __init__(self, directory):
        self.port = free_port()
        self.env = dict(os.environ, SERVICES_DIR=str(directory), POSTGRES_PORT=str(self.port))
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/thumbnails"

    def run(self, action: str) -> None:
        subprocess.run([POSTGRES_SCRIPT, action], env=self.env, check=True, timeout=300)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = DedicatedPostgres(tmp_path_factory.mktemp("postgres"))
    server.run("start")
    yield server
    server.run("stop")


@pytest.fixture
def app(postgres, tmp_path):
    from api import create_app

    settings = core.Settings.from_env(os.environ, storage_url=(tmp_path / "objects").as_uri(),
                                      queue_url=f"sqlite://{tmp_path / 'queue.db'}", queue_url_high="",
                                      queue_url_low="", jobs_url=postgres.url)
    app = create_app(settings, storage.connect(settings))
    app.config["TESTING"] = True
    return app


def submit(client):
    return client.post("/jobs", data={"image": (io.BytesIO(images.jpeg()), "a.jpg")}, headers=ALICE)


def test_a_database_outage_is_a_503_and_everything_accepted_completes(app, postgres):
    client = app.test_client()
    before = submit(client)
    assert before.status_code == 202

    postgres.run("stop")
    try:
        during = submit(client)
        assert during.status_code == 503, during.json
        assert "Retry-After" in during.headers
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["checks"]["jobs"].startswith("unavailable")
        assert client.get(f"/jobs/{before.json['id']}", headers=ALICE).status_code == 503
        assert client.get("/jobs", headers=ALICE).status_code == 503
    finally:
        postgres.run("start")

    assert client.get("/readyz").status_code == 200
    after = submit(client)
    assert after.status_code == 202

    backends = app.extensions["thumbnails.backends"]
    settings = app.extensions["thumbnails.settings"]
    worker = threading.Thread(target=Worker(backends, settings).work, kwargs={"burst": True})
    worker.start()
    worker.join(120)
    for response in (before, after):
        job = client.get(f"/jobs/{response.json['id']}", headers=ALICE).json
        assert job["status"] == "complete", job
