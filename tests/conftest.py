"""Fixtures: testing.env, the real MinIO/ElasticMQ, and a uniquely named bucket and queue."""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values

import core
import storage
from storage.aws import make_client
from storage.objects.s3 import S3ObjectStore
from storage.queues.sqs import SqsQueue

ROOT = Path(__file__).resolve().parent.parent
TESTING_ENV = {key: value for key, value in dotenv_values(ROOT / "testing.env").items() if value is not None}
os.environ.update(TESTING_ENV)

# Two owners' keys for the whole run; the api processes the tests start inherit API_KEYS.
from core.keys import new_key  # noqa: E402  (after testing.env is loaded)

ALICE_KEY, _alice = new_key("alice")
BOB_KEY, _bob = new_key("bob")
os.environ["API_KEYS"] = f"{_alice.line()},{_bob.line()}"
os.environ["THUMBNAILS_KEY"] = ALICE_KEY  # what `thumbnails submit/status` send by default
ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
BOB = {"Authorization": f"Bearer {BOB_KEY}"}
# Alice over HTTP, for tests that drive a running service the way curl would.
alice_http = requests.Session()
alice_http.headers.update(ALICE)

# moto as a third S3/SQS backend: its fixtures (aws_target, moto_server, moto_bucket).
pytest_plugins = ["tests.moto_server"]

RUN_ID = f"{os.environ['TEST_NAME_PREFIX']}-{time.strftime('%Y%m%dt%H%M%S')}-{secrets.token_hex(2)}"
_queue_numbers = itertools.count(1)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def servers():
    """The real servers; started by scripts/services.sh when they are not running yet."""
    s3, sqs = os.environ["AWS_ENDPOINT_URL_S3"], os.environ["AWS_ENDPOINT_URL_SQS"]
    if not (_answers(f"{s3}/minio/health/live") and _answers(f"{sqs}/?Action=ListQueues")):
        subprocess.run([ROOT / "scripts" / "services.sh", "start"], check=True)
    return {"s3": s3, "sqs": sqs}


@pytest.fixture(scope="session")
def bucket_name(servers):
    """One bucket for the whole run (job ids keep tests apart), removed at the end."""
    name = RUN_ID
    objects = S3ObjectStore(make_client("s3", "path"), name)
    objects.ensure()
    yield name
    objects.delete_bucket()


@pytest.fixture
def settings(aws_target, monkeypatch) -> core.Settings:
    """Settings with this test's own queue; also exported for the processes a test starts."""
    queue_name = f"{RUN_ID}-{next(_queue_numbers)}"
    for name, value in aws_target.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STORAGE_URL", f"s3://{aws_target.bucket}")
    monkeypatch.setenv("QUEUE_URL", aws_target.queue_url(queue_name))
    return core.Settings.from_env(os.environ)


@pytest.fixture
def backends(settings):
    backends = storage.connect(settings)
    backends.ensure()
    yield backends
    for queue in backends.queues:
        assert isinstance(queue, SqsQueue)
        queue.delete_queue()


@pytest.fixture
def app(settings, backends):
    from api import create_app

    app = create_app(settings, backends)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    """Alice's client: her key goes with every request unless a test sends other headers."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = ALICE["Authorization"]
    return client


@pytest.fixture
def anonymous(app):
    return app.test_client()
