"""How fast GET /jobs answers a page of 50 out of N jobs, on SQLite and on PostgreSQL.

Seeds N job records (90 % one owner's, the rest spread over 99 others; mostly complete, a few
failed, cancelled, pending and processing; priorities mixed; one job a second going back from
now), then times pages through the api (Flask's test client in this process: routing, auth,
the query, JSON) and prints p50/p95 in milliseconds per kind of page:

    python -m bench.history 1000000                      # both stores
    python -m bench.history 100000 --stores sqlite

PostgreSQL: the server scripts/postgres.sh starts (or --postgres-url), in a database
`bench_history_N`; SQLite: `jobs-N.db` in --dir (default: a temporary folder). Seeding a million
takes minutes, so with --keep both are kept and a later run with the same N reuses them.

Two timings per page: `api` is the whole request in process (routing, auth, the query, reading
50 job documents, JSON), `store` only JobStore.page or .summary (the query and the documents).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

import core
from core.job import Job
from core.keys import new_key
from storage import database
from storage.schema import jobs
from storage.sqljobs import to_ms

OWNER = "alice"
OTHER_OWNERS = 99
BATCH = 5000
STATUS_WEIGHTS = {"complete": 90, "failed": 5, "cancelled": 3, "pending": 1, "processing": 1}
PRIORITY_WEIGHTS = {"normal": 80, "high": 10, "low": 10}
# Longer than the seeded history (one job a second): start-up's retention sweep must keep it all.
RETENTION_SECONDS = 10 * 365 * 86400


def templates() -> dict[str, str]:
    """One document per status, with placeholders for what differs between jobs."""
    made = {}
    for status in STATUS_WEIGHTS:
        job = Job(owner="OWNER", priority="normal")
        if status != "pending":
            job.start_processing()
        if status == "complete":
            job.complete()
        elif status == "failed":
            job.fail(415, "not an image")
        elif status == "cancelled":
            job.cancel()
        made[status] = job.to_json().replace(job.id, "JOBID").replace('"OWNER"', '"{owner}"').replace(
            job.start.isoformat(timespec="milliseconds"), "{start}").replace('"normal"', '"{priority}"')
    return made


def seed(url: str, count: int) -> None:
    database.migrate(url)
    docs = templates()
    rng = random.Random(12)
    statuses = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()), k=count)
    priorities = rng.choices(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()), k=count)
    newest = datetime.now(UTC).replace(microsecond=0)
    engine = database.engine(url)
    started = time.perf_counter()
    for begin in range(0, count, BATCH):
        rows = []
        for n in range(begin, min(begin + BATCH, count)):
            job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            owner = OWNER if n % 10 else f"owner-{n % OTHER_OWNERS}"
            start = newest - timedelta(seconds=count - n)
            status = statuses[n]
            document = (docs[status].replace("JOBID", job_id).replace("{owner}", owner)
                        .replace("{start}", start.isoformat(timespec="milliseconds"))
                        .replace("{priority}", priorities[n]))
            finish = None if status in ("pending", "processing") else to_ms(start) + 1500
            rows.append({"id": job_id, "owner": owner, "status": status, "priority": priorities[n],
                         "start_ms": to_ms(start), "finish_ms": finish, "updated_ms": finish or to_ms(start),
                         "version": "0" * 32, "document": document})
        with engine.begin() as connection:
            connection.execute(sa.insert(jobs), rows)
        done = min(begin + BATCH, count)
        print(f"\r  seeded {done:,} / {count:,} ({done / (time.perf_counter() - started):,.0f} rows/s)",
              end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("ANALYZE"))


def seeded(url: str) -> int:
    try:
        with database.engine(url).connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one()
    except sa.exc.SQLAlchemyError:
        return 0


def make_client(url: str, tmp: Path):
    """The api in process, its job store's page and summary timed on the side."""
    from api import create_app

    key, record = new_key(OWNER)
    settings = core.Settings.from_env(
        {"STORAGE_URL": (tmp / "objects").as_uri(), "QUEUE_URL": f"sqlite://{tmp / 'queue.db'}",
         "JOBS_URL": url, "API_KEYS": record.line(), "RATE_LIMIT_PER_MINUTE": "100000000",
         "RETENTION_SECONDS": str(RETENTION_SECONDS)})
    app = create_app(settings)
    store = app.extensions["thumbnails.backends"].jobs
    store_timings: list[float] = []
    for name in ("page", "summary"):
        store.__dict__[name] = _timed(getattr(store, name), store_timings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client, store_timings


def _timed(method, timings: list[float]):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            timings.append((time.perf_counter() - started) * 1000)
    return timed


def pages(client, count: int) -> dict[str, list[str]]:
    """The kinds of page timed, each as the query strings of its requests."""
    deep = client.get("/jobs?limit=500").get_json()["next"]
    for _ in range(3):  # 2,000 jobs down: a page a user reaches by paging
        if deep:
            deep = client.get(f"/jobs?limit=500&cursor={deep}").get_json()["next"]
    middle = datetime.now(UTC) - timedelta(seconds=count // 2)
    window = f"since={(middle - timedelta(hours=1)).isoformat()}&until={middle.isoformat()}".replace("+", "%2B")
    return {
        "first page": ["/jobs"],
        "page after 2,000": [f"/jobs?cursor={deep}" if deep else "/jobs"],  # a small N has no such page
        "status=failed,cancelled": ["/jobs?status=failed,cancelled"],
        "status=pending (1 %)": ["/jobs?status=pending"],
        "priority=high": ["/jobs?priority=high"],
        "since/until, mid-history": [f"/jobs?{window}"],
        "summary (all counts)": ["/jobs/summary"],
    }


def percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]


def measure(client, store_timings: list[float], paths: list[str], repeat: int) -> tuple:
    timings, size = [], 0
    for _ in range(3):
        client.get(paths[0])  # warm the caches once
    store_timings.clear()
    for n in range(repeat):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
        size = len(response.get_json().get("jobs", []))
    return (*percentiles(timings), *percentiles(store_timings), size)


def run(store: str, url: str, count: int, repeat: int, tmp: Path) -> None:
    if seeded(url) != count:
        print(f"{store}: seeding {count:,} jobs", file=sys.stderr)
        seed(url, count)
    client, store_timings = make_client(url, tmp)
    assert seeded(url) == count, "the api's start-up removed seeded jobs"
    print(f"\n{store}, {count:,} jobs ({count * 9 // 10:,} of them the caller's), {repeat} requests each, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    print(f"  {'page':<28} {'api p50':>8} {'api p95':>8} {'store p50':>10} {'store p95':>10} {'jobs':>5}")
    for name, paths in pages(client, count).items():
        api50, api95, store50, store95, size = measure(client, store_timings, paths, repeat)
        print(f"  {name:<28} {api50:8.1f} {api95:8.1f} {store50:10.1f} {store95:10.1f} {size:5}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int, help="jobs to seed")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=200, help="requests per kind of page (default %(default)s)")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:25432/thumbnails")
    parser.add_argument("--dir", type=Path, help="where the SQLite file goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded databases for the next run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        folder = args.dir.resolve() if args.dir else tmp
        folder.mkdir(parents=True, exist_ok=True)
        for store in args.stores.split(","):
            if store == "sqlite":
                path = folder / f"jobs-{args.count}.db"
                try:
                    run(store, f"sqlite://{path}", args.count, args.repeat, tmp)
                finally:
                    if not args.keep:
                        for leftover in folder.glob(f"jobs-{args.count}.db*"):
                            leftover.unlink()
            else:
                name = f"bench_history_{args.count}"
                admin = sa.create_engine(database.sqlalchemy_url(args.postgres_url), isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    if not connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                              {"name": name}).first():
                        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
                url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}"
                try:
                    run(store, url, args.count, args.repeat, tmp)
                finally:
                    for key in [key for key in database._engines if key[0] == url]:
                        database._engines.pop(key).dispose()
                    if not args.keep:
                        with admin.connect() as connection:
                            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
