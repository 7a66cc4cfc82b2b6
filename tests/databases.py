"""Fixtures for the job stores: SQLite files per test, and a PostgreSQL database per test run on
the server scripts/postgres.sh starts (created at the start, dropped at the end).

`settings_on_each_job_store` is the conftest's `settings` fixture run once per job store: a
module that imports it runs each of its tests on job documents in the object store, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

import core
from storage import database

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SCRIPT = ROOT / "scripts" / "postgres.sh"
# What every job-store-parametrized test runs on. PostgreSQL is a real server, like MinIO.
JOB_STORES = ["objects", "sqlite", pytest.param("postgresql", marks=pytest.mark.servers)]


def postgres_server_url() -> str:
    """The server's maintenance URL; started by scripts/postgres.sh when it does not answer."""
    url = subprocess.run([POSTGRES_SCRIPT, "url"], check=True, capture_output=True, text=True).stdout.strip()
    try:
        with sa.create_engine(database.sqlalchemy_url(url)).connect():
            pass
    except sa.exc.OperationalError:
        subprocess.run([POSTGRES_SCRIPT, "start"], check=True, timeout=300)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A database of this test run's own, dropped at the end."""
    from tests.environment import RUN_ID

    server = postgres_server_url()
    name = RUN_ID.replace("-", "_")
    admin = sa.create_engine(database.sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    for key in [key for key in database._engines if key[0] == url or key[0].startswith(url + "?")]:
        database._engines.pop(key).dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def job_store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """JOBS_URL for a kind of job store: `objects`, a fresh SQLite file, or this run's PostgreSQL."""
    if kind == "objects":
        return "objects"
    if kind == "sqlite":
        return f"sqlite://{(tmp_path / 'jobs.db').as_posix()}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(name="settings", params=JOB_STORES)
def settings_on_each_job_store(request, settings, monkeypatch, tmp_path) -> core.Settings:
    """The usual settings (S3 and SQS), with job records on each kind of store in turn."""
    monkeypatch.setenv("JOBS_URL", job_store_url(request.param, request, tmp_path))
    return core.Settings.from_env(os.environ)
