"""`thumbnails serve` beyond the embedded default: real S3/SQS, and the key it makes (its
supervision, with components that die, is tests/test_supervisor.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import requests

import core
import storage
from cli import commands
from cli.__main__ import main
from tests import images
from tests.embedded import EmbeddedService, embedded_environ
from tests.environment import RUN_ID


def test_serve_runs_on_minio_and_elasticmq_when_the_environment_points_there(bucket_name, tmp_path):
    environ = dict(os.environ, STORAGE_URL=f"s3://{bucket_name}", QUEUE_URL=f"sqs://{RUN_ID}-serve",
                   DATA_DIR=str(tmp_path / "data"))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(images.jpeg())
    try:
        with EmbeddedService(tmp_path / "data", thumbnailers=1, environ=environ) as service:
            assert main(["submit", str(photo), "--url", service.url]) == commands.EXIT_OK
    finally:
        storage.connect(core.Settings.from_env(environ)).queue.delete_queue()
    assert images.decode((tmp_path / "photo.thumbnail.jpg").read_bytes()).size == (100, 50)
    assert not (tmp_path / "data").exists(), "nothing may fall back to the local disk"


def test_serve_makes_a_local_key_when_none_is_configured_and_prints_it_once(tmp_path):
    environ = embedded_environ(tmp_path / "data")
    del environ["API_KEYS"]
    service = EmbeddedService(tmp_path / "data", thumbnailers=1, environ=environ)
    service.process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(service.port), "--thumbnailers", "1"],
        env=environ, stderr=subprocess.PIPE, text=True)
    try:
        key = None
        for line in service.process.stderr:  # the key is printed on stderr, never among the JSON logs
            if line.strip().startswith("API key"):
                key = line.split()[-1]
                break
        assert key and key.startswith("thk_")
        keys_file = (tmp_path / "data" / "api-keys").read_text()
        assert key not in keys_file and ":local:" in keys_file
        headers = {"Authorization": f"Bearer {key}"}
        assert requests.get(f"{service.url}/jobs/00000000-0000-4000-8000-000000000000", headers=headers,
                            timeout=5).status_code == 404
        assert requests.get(f"{service.url}/jobs/00000000-0000-4000-8000-000000000000",
                            timeout=5).status_code == 401
    finally:
        service.stop()
