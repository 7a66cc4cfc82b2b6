"""`thumbnails jobs`, `cancel`, `download`, `migrate` and `import-jobs` (embedded service)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import core
import storage
from cli import commands
from cli.__main__ import main
from cli.client import ApiClient, ApiError
from tests import images
from tests.embedded import EmbeddedService, embedded_environ
from tests.environment import ALICE_KEY


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with EmbeddedService(tmp_path_factory.mktemp("history-cli"), thumbnailers=1) as service:
        yield service


@pytest.fixture(scope="module")
def finished(service, tmp_path_factory):
    """Two jobs of Alice's through `thumbnails submit`, finished."""
    photo = tmp_path_factory.mktemp("photos") / "photo.jpg"
    photo.write_bytes(images.jpeg(400, 200))
    ids = []
    for _ in range(2):
        assert main(["submit", str(photo), "--url", service.url]) == commands.EXIT_OK
    backends = storage.connect(core.Settings.from_env(service.environ))
    page = backends.jobs.page(storage.jobstore.JobQuery("alice"))
    ids = [job.id for job in page.jobs]
    assert len(ids) == 2
    return ids


def test_jobs_lists_newest_first_with_a_filter(service, finished, capsys):
    capsys.readouterr()
    assert main(["jobs", "--url", service.url, "--status", "complete", "--since", "1h"]) == commands.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == finished
    assert all(" complete " in line for line in lines)


def test_jobs_pages_with_a_cursor_hint_and_all(service, finished, capsys):
    capsys.readouterr()
    main(["jobs", "--url", service.url, "--limit", "1"])
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 and "--cursor" in captured.err
    main(["jobs", "--url", service.url, "--limit", "1", "--all"])
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_download_writes_output_n(service, finished, tmp_path, capsys):
    target = tmp_path / "thumb.jpg"
    assert main(["download", finished[0], "0", "-o", str(target), "--url", service.url]) == commands.EXIT_OK
    assert images.decode(target.read_bytes()).size == (100, 50)


def test_download_goes_by_the_signed_url_without_the_key(service, finished, tmp_path):
    job = ApiClient(service.url, ALICE_KEY).job(finished[0])
    keyless = ApiClient(service.url)
    data, content_type = keyless.download(job, 0)
    assert content_type == "image/jpeg" and images.decode(data).size == (100, 50)
    signed = job["outputs"][0]["signed_url"]
    job["outputs"][0]["signed_url"] = signed.replace("expires=", "expires=1")
    with pytest.raises(ApiError) as refused:
        keyless.download(job, 0)
    assert refused.value.status == 403


def test_download_of_a_missing_output_is_refused(service, finished, capsys):
    assert main(["download", finished[0], "5", "--url", service.url]) == commands.EXIT_REFUSED
    assert "not found" in capsys.readouterr().err


def test_cancel_deletes_a_finished_job(service, finished, capsys):
    assert main(["cancel", finished[1], "--url", service.url]) == commands.EXIT_OK
    assert "deleted" in capsys.readouterr().out
    assert main(["status", finished[1], "--url", service.url]) == commands.EXIT_REFUSED


def test_migrate_reports_the_schema(tmp_path, capsys):
    environ = embedded_environ(tmp_path / "data")
    assert main(["migrate"], environ) == commands.EXIT_OK
    assert "migrated" in capsys.readouterr().out
    assert main(["migrate"], environ) == commands.EXIT_OK
    assert "already up to date" in capsys.readouterr().out


def test_import_jobs_copies_documents_once(tmp_path, capsys):
    environ = embedded_environ(tmp_path / "data")
    documents_env = dict(environ, STORAGE_URL=(tmp_path / "data" / "objects").as_uri(),
                         QUEUE_URL=f"sqlite://{tmp_path / 'data' / 'queue.db'}", JOBS_URL="objects")
    documents = storage.connect(core.Settings.from_env(documents_env))
    documents.ensure()
    now = datetime.now(UTC).replace(microsecond=0)
    made = [core.Job(owner="alice", start=now - timedelta(seconds=10 - n)) for n in range(3)]  # oldest first
    for job in made:
        documents.jobs.save(job)

    assert main(["import-jobs", "--quiet"], environ) == commands.EXIT_OK
    assert "3 imported" in capsys.readouterr().out
    assert main(["import-jobs", "--quiet"], environ) == commands.EXIT_OK
    assert "0 imported, 3 already there" in capsys.readouterr().out

    database = storage.connect(core.Settings.from_env(environ)).jobs
    listed = database.page(storage.jobstore.JobQuery("alice")).jobs
    assert [job.id for job in listed] == [job.id for job in reversed(made)]
    assert database.load(made[0].id) == made[0]
