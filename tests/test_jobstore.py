"""One contract for every job store: documents in the object store (folder, MinIO), SQLite and
PostgreSQL keep records alike; the database ones also list, count and page through history."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import core
import storage
from core.errors import HistoryUnavailable
from core.job import Job, JobStatus
from storage import database
from storage.aws import make_client
from storage.jobstore import MAX_PAGE_SIZE, JobQuery
from storage.objects.local import LocalObjectStore
from storage.objects.s3 import S3ObjectStore
from storage.schema import jobs as jobs_table
from storage.sqljobs import SqlJobStore, to_ms
from tests.databases import job_store_url

RECORD_STORES = ["documents-local", pytest.param("documents-s3", marks=pytest.mark.servers), "sqlite",
                 pytest.param("postgresql", marks=pytest.mark.servers)]
HISTORY_STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)]


def make_store(kind: str, request, tmp_path) -> storage.JobStore:
    if kind == "documents-s3":
        objects = S3ObjectStore(make_client("s3", "path"), request.getfixturevalue("bucket_name"))
    else:
        objects = LocalObjectStore(tmp_path / "objects")
    objects.ensure()
    if kind.startswith("documents"):
        return storage.DocumentJobStore(objects)
    store = SqlJobStore(objects, job_store_url(kind, request, tmp_path))
    store.ensure()
    return store


@pytest.fixture(params=RECORD_STORES)
def store(request, tmp_path) -> storage.JobStore:
    return make_store(request.param, request, tmp_path)


@pytest.fixture(params=HISTORY_STORES)
def history(request, tmp_path) -> SqlJobStore:
    return make_store(request.param, request, tmp_path)


def owner() -> str:
    """An owner of this test's own: PostgreSQL's database is shared by the whole run."""
    return f"owner-{time.monotonic_ns()}"


class TestRecords:
    def test_a_saved_job_loads_equal(self, store):
        job = Job(owner="alice", priority="high")
        store.save(job)
        assert store.load(job.id) == job

    def test_the_slower_of_two_writers_gets_a_conflict(self, store):
        job = Job()
        store.save(job)
        mine, theirs = store.load(job.id), store.load(job.id)
        theirs.start_processing()
        store.save(theirs)
        mine.fail(500, "too late")
        with pytest.raises(core.Conflict):
            store.save(mine)
        assert store.load(job.id).status is JobStatus.PROCESSING

    def test_an_identical_write_by_another_is_no_conflict(self, store):
        """Versions follow the content, as ETags do: two thumbnailers that both mark a job
        `processing` do not make each other's next write fail."""
        job = Job()
        job.start_processing()
        store.save(job)
        mine, theirs = store.load(job.id), store.load(job.id)
        theirs.start_processing()  # a redelivery: processing again, the same document
        store.save(theirs)
        mine.complete()
        store.save(mine)
        assert store.load(job.id).status is JobStatus.COMPLETE

    def test_a_writer_that_read_the_latest_version_wins(self, store):
        job = Job()
        store.save(job)
        loaded = store.load(job.id)
        loaded.start_processing()
        store.save(loaded)
        loaded.complete()
        store.save(loaded)  # its own previous write is not someone else's
        assert store.load(job.id).status is JobStatus.COMPLETE

    def test_a_job_never_loaded_is_written_whatever_is_there(self, store):
        job = Job()
        store.save(job)
        again = Job(id=job.id, message="replaced")
        store.save(again)
        assert store.load(job.id).message == "replaced"

    def test_a_conditional_write_of_a_deleted_record_is_not_found(self, store):
        job = Job()
        store.save(job)
        loaded = store.load(job.id)
        store.delete_all(job.id)
        loaded.start_processing()
        with pytest.raises(core.NotFound):
            store.save(loaded)

    def test_unknown_and_malformed_ids_are_not_found(self, store):
        with pytest.raises(core.NotFound):
            store.load(Job().id)
        with pytest.raises(core.NotFound):
            store.load("../../etc/passwd")

    def test_delete_all_removes_record_and_data_and_may_repeat(self, store):
        job = Job()
        store.save(job)
        store.save_input(job.id, b"input", "image/png")
        store.save_output(job.id, 0, b"thumb", "image/png")
        store.delete_all(job.id, 1)
        store.delete_all(job.id, 1)
        for read in (store.load, store.load_input, lambda job_id: store.load_output(job_id, 0)):
            with pytest.raises(core.NotFound):
                read(job.id)


class TestDocumentsKeepNoHistory:
    def test_listing_says_which_configurations_give_history(self, tmp_path):
        documents = storage.DocumentJobStore(LocalObjectStore(tmp_path))
        with pytest.raises(HistoryUnavailable, match="JOBS_URL"):
            documents.page(JobQuery("alice"))
        with pytest.raises(HistoryUnavailable):
            documents.summary("alice")


def submit_jobs(store, who: str, count: int, **fields) -> list[Job]:
    made = []
    for _ in range(count):
        job = Job(owner=who, **fields)
        store.save(job)
        made.append(job)
    return made


def ids(jobs) -> list[str]:
    return [job.id for job in jobs]


def all_pages(store, query: JobQuery) -> list[list[Job]]:
    pages, cursor = [], None
    while True:
        page = store.page(JobQuery(**{**query.__dict__, "cursor": cursor}))
        pages.append(page.jobs)
        if page.next is None:
            return pages
        cursor = page.next


class TestHistory:
    def test_newest_first_in_pages_that_end_with_no_next(self, history):
        alice = owner()
        made = submit_jobs(history, alice, 7)
        pages = all_pages(history, JobQuery(alice, limit=3))
        assert [len(page) for page in pages] == [3, 3, 1]
        assert [job.id for page in pages for job in page] == ids(reversed(made))

    def test_a_page_that_is_exactly_full_has_no_next(self, history):
        alice = owner()
        submit_jobs(history, alice, 3)
        assert history.page(JobQuery(alice, limit=3)).next is None

    def test_another_owners_jobs_never_appear(self, history):
        alice, bob = owner(), owner()
        mine = submit_jobs(history, alice, 2)
        submit_jobs(history, bob, 3)
        assert ids(history.page(JobQuery(alice)).jobs) == ids(reversed(mine))

    def test_pages_stay_put_while_new_jobs_arrive(self, history):
        alice = owner()
        made = submit_jobs(history, alice, 6)
        first = history.page(JobQuery(alice, limit=3))
        submit_jobs(history, alice, 5)  # arrive between two page requests
        second = history.page(JobQuery(alice, limit=3, cursor=first.next))
        assert ids(first.jobs + second.jobs) == ids(reversed(made))

    def test_filters_by_several_statuses_and_priority(self, history):
        alice = owner()
        pending = submit_jobs(history, alice, 2)
        done = submit_jobs(history, alice, 2, priority="high")
        failed = submit_jobs(history, alice, 1)
        for job in done:
            job.start_processing()
            job.complete()
            history.save(job)
        failed[0].fail(415, "not an image")
        history.save(failed[0])

        both = history.page(JobQuery(alice, statuses=(JobStatus.COMPLETE, JobStatus.FAILED))).jobs
        assert set(ids(both)) == set(ids(done + failed))
        assert ids(history.page(JobQuery(alice, statuses=(JobStatus.PENDING,))).jobs) == ids(reversed(pending))
        assert set(ids(history.page(JobQuery(alice, priority="high")).jobs)) == set(ids(done))

    def test_since_and_until_bound_the_submit_time(self, history):
        alice = owner()
        now = datetime.now(UTC)
        old = Job(owner=alice, start=now - timedelta(days=3))
        middle = Job(owner=alice, start=now - timedelta(days=2))
        new = Job(owner=alice, start=now)
        for job in (old, middle, new):
            history.save(job)
        query = JobQuery(alice, since=now - timedelta(days=2, hours=1), until=now - timedelta(hours=1))
        assert ids(history.page(query).jobs) == [middle.id]

    def test_a_cursor_that_was_not_handed_out_is_refused(self, history):
        with pytest.raises(core.InvalidOption, match="cursor"):
            history.page(JobQuery("alice", cursor="not-a-cursor"))

    @pytest.mark.parametrize("limit", [0, MAX_PAGE_SIZE + 1])
    def test_the_page_size_is_bounded(self, limit):
        with pytest.raises(core.InvalidOption, match="limit"):
            JobQuery("alice", limit=limit)

    def test_history_survives_a_restart(self, history):
        alice = owner()
        made = submit_jobs(history, alice, 2)
        for key in [key for key in database._engines if key[0] == history.url]:
            database._engines.pop(key).dispose()  # as a new process would: nothing cached
        reopened = SqlJobStore(history.objects, history.url)
        reopened.ensure()
        assert ids(reopened.page(JobQuery(alice)).jobs) == ids(reversed(made))


class TestSummary:
    def test_counts_by_status_and_priority_and_the_oldest_pending(self, history):
        alice = owner()
        early = Job(owner=alice, start=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10))
        history.save(early)
        submit_jobs(history, alice, 2, priority="low")
        [running] = submit_jobs(history, alice, 1)
        running.start_processing()
        history.save(running)
        submit_jobs(history, owner(), 4)  # someone else's

        summary = history.summary(alice)
        assert summary.counts == {"pending": {"normal": 1, "low": 2}, "processing": {"normal": 1}}
        assert summary.oldest_pending == early.start

    def test_every_owner_restricted_to_active_statuses(self, history):
        who = owner()
        [done] = submit_jobs(history, who, 1)
        done.fail(415, "no")
        history.save(done)
        counts = history.summary(None, (JobStatus.PENDING, JobStatus.PROCESSING)).counts
        assert "failed" not in counts


class TestStale:
    def test_pending_jobs_unchanged_since_a_time_come_oldest_first(self, history):
        who = owner()
        [first, second] = submit_jobs(history, who, 2)
        cutoff = datetime.now(UTC) + timedelta(seconds=1)
        [moved] = submit_jobs(history, who, 1)
        moved.start_processing()
        history.save(moved)
        found = [job for job in history.stale((JobStatus.PENDING,), cutoff, limit=MAX_PAGE_SIZE)
                 if job.owner == who]
        assert ids(found) == [first.id, second.id]
        assert found[0].version is not None  # ready for a conditional write


class TestRetention:
    def test_records_of_long_finished_jobs_are_removed(self, history):
        who = owner()
        [old, recent] = submit_jobs(history, who, 2)
        for job in (old, recent):
            job.fail(415, "no")
            history.save(job)
        long_ago = to_ms(datetime.now(UTC) - timedelta(days=30))
        with history._db.begin() as connection:
            connection.execute(sa.update(jobs_table).where(jobs_table.c.id == old.id).values(finish_ms=long_ago))
        history.expire_after(7 * 86400)
        with pytest.raises(core.NotFound):
            history.load(old.id)
        assert history.load(recent.id).status is JobStatus.FAILED


class TestJobsUrl:
    def test_embedded_records_go_to_sqlite_in_the_data_folder(self, tmp_path):
        settings = core.Settings.from_env({"DATA_DIR": str(tmp_path)})
        assert (settings.jobs_backend, settings.jobs_url) == ("sqlite", f"sqlite://{tmp_path}/jobs.db")
        assert isinstance(storage.connect(settings).jobs, SqlJobStore)

    def test_with_s3_and_sqs_records_stay_documents_unless_asked(self):
        base = {"STORAGE_URL": "s3://bucket", "QUEUE_URL": "sqs://queue"}
        assert core.Settings.from_env(base).jobs_backend == "objects"
        assert core.Settings.from_env({**base, "JOBS_URL": "objects"}).jobs_backend == "objects"
        chosen = core.Settings.from_env({**base, "JOBS_URL": "postgresql://u:p@db:5432/thumbnails"})
        assert chosen.jobs_backend == "postgresql"

    def test_objects_overrides_the_embedded_default(self, tmp_path):
        settings = core.Settings.from_env({"DATA_DIR": str(tmp_path), "JOBS_URL": "objects"})
        assert isinstance(storage.connect(settings).jobs, storage.DocumentJobStore)

    @pytest.mark.parametrize("url", ["sqlite://jobs.db", "mysql://db/x", "postgresql://", "jobs.db"])
    def test_a_bad_url_stops_start_up_naming_the_variable(self, url):
        with pytest.raises(core.ConfigurationError, match="JOBS_URL"):
            core.Settings.from_env({"STORAGE_URL": "s3://b", "QUEUE_URL": "sqs://q", "JOBS_URL": url})

    def test_a_postgresql_queue_names_its_priority_queues(self):
        settings = core.Settings.from_env({"STORAGE_URL": "s3://b", "QUEUE_URL": "postgresql://db/x?queue=thumbs"})
        assert settings.postgres_queue == ("postgresql://db/x", "thumbs")
        assert settings.priority_queue_url("high") == "postgresql://db/x?queue=thumbs-high"
        assert core.Settings.from_env({"STORAGE_URL": "s3://b", "QUEUE_URL": "postgresql://db/x"}).postgres_queue[1] \
            == "thumbnails"


class TestKeys:
    @pytest.mark.parametrize("kind", ["local", pytest.param("s3", marks=pytest.mark.servers)])
    def test_an_object_store_lists_the_keys_under_a_prefix(self, kind, request, tmp_path):
        if kind == "local":
            objects = LocalObjectStore(tmp_path / "objects")
        else:
            objects = S3ObjectStore(make_client("s3", "path"), request.getfixturevalue("bucket_name"))
        objects.ensure()
        prefix = f"keys-{time.monotonic_ns()}/"
        for key in ("a/job.json", "a/input", "b/job.json"):
            objects.put(prefix + key, b"x", "text/plain")
        objects.put(f"other-{time.monotonic_ns()}/c", b"x", "text/plain")
        assert sorted(objects.keys(prefix)) == [prefix + key for key in ("a/input", "a/job.json", "b/job.json")]
