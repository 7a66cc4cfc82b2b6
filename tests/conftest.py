"""Fixtures. Tests run on the embedded backends (a folder store and SQLite queues in the test's
tmp_path) unless they ask for the real MinIO/ElasticMQ: a test that requests the `servers`
fixture, directly or through `bucket_name` / `servers_settings`, is marked `servers` here, so
`pytest -m "not servers"` needs no server at all. Shared helpers live in the tests package's
other modules (environment, images, jobs, waiting, processes, embedded, dedicated), never here."""

from __future__ import annotations

import itertools
import os
import subprocess
import urllib.request

import pytest

import core
import storage
from storage.aws import make_client
from storage.objects.s3 import S3ObjectStore
from storage.queues.sqs import SqsQueue
from tests import environment
from tests.databases import postgres_url  # noqa: F401  (a fixture)
from tests.environment import ALICE, ROOT, RUN_ID
from tests.moto_server import Target

environment.apply()

# moto as a third S3/SQS backend: its fixtures (aws_target, moto_server, moto_bucket).
pytest_plugins = ["tests.moto_server"]

_queue_numbers = itertools.count(1)
NO_SERVER = "http://127.0.0.1:9"  # nothing listens on the discard port


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items):
    """Whatever needs the real servers carries the `servers` marker, whether or not it says so."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        # aws_target picks the real servers unless a test is parametrized onto moto
        if {"servers", "postgres_url"} & set(names) or ("aws_target" in names and not item.get_closest_marker("moto")):
            item.add_marker(pytest.mark.servers)


def pytest_collection_finish(session):
    """A run without `servers` tests (the fast lane) points S3 and SQS at a closed port: a test
    that reached the real servers without saying so fails at once instead of passing here and
    breaking where no server runs."""
    if not any(item.get_closest_marker("servers") for item in session.items):
        os.environ.update(AWS_ENDPOINT_URL_S3=NO_SERVER, AWS_ENDPOINT_URL_SQS=NO_SERVER)


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
def embedded_settings(tmp_path, monkeypatch) -> core.Settings:
    """A folder store and SQLite queues of this test's own; exported for the processes it starts."""
    monkeypatch.setenv("STORAGE_URL", (tmp_path / "objects").as_uri())
    monkeypatch.setenv("QUEUE_URL", f"sqlite://{(tmp_path / 'queue.db').as_posix()}")
    return core.Settings.from_env(os.environ)


@pytest.fixture
def servers_settings(aws_target, monkeypatch) -> core.Settings:
    """S3 and SQS: the real MinIO (the run's bucket) and ElasticMQ, or moto shaped like AWS for a
    test parametrized with ON_EACH_AWS_BACKEND; queues of this test's own; exported too."""
    return _aws_settings(aws_target, monkeypatch)


def _aws_settings(aws_target: Target, monkeypatch) -> core.Settings:
    queue_name = f"{RUN_ID}-{next(_queue_numbers)}"
    for name, value in aws_target.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STORAGE_URL", f"s3://{aws_target.bucket}")
    monkeypatch.setenv("QUEUE_URL", aws_target.queue_url(queue_name))
    return core.Settings.from_env(os.environ)


@pytest.fixture(params=["embedded", pytest.param("servers", marks=pytest.mark.servers),
                        pytest.param("moto", marks=pytest.mark.moto)])
def any_settings(request, monkeypatch) -> core.Settings:
    """For tests that hold on every backend: embedded, the real servers, moto shaped like AWS."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded_settings")
    target = (Target("moto", request.getfixturevalue("moto_bucket"), request.getfixturevalue("moto_server").environ())
              if request.param == "moto" else Target("servers", request.getfixturevalue("bucket_name"), {}))
    return _aws_settings(target, monkeypatch)


@pytest.fixture
def settings(embedded_settings) -> core.Settings:
    """The backends a test runs on: embedded. A class or module that tests S3/SQS behaviour
    overrides this fixture with `servers_settings`; `backends`, `app` and `client` follow."""
    return embedded_settings


@pytest.fixture
def backends(settings):
    backends = storage.connect(settings)
    backends.ensure()
    yield backends
    for queue in backends.queues:
        if isinstance(queue, SqsQueue):
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
