"""How fast GET /jobs answers a page of 50 out of N jobs, on SQLite and on PostgreSQL.

Seeds N job records (90 % one owner's, the rest spread over 99 others; mostly complete, a few
failed, cancelled, pending and processing; priorities mixed; one job a second going back from
now), then times pages through the api (Flask's test client in this process: routing, auth,
the query, JSON) and prints p50/p95 in milliseconds per kind of page:

    python -m bench.history 1000000                      # both stores
    python -m bench.history 100000 --stores sqlite

PostgreSQL: the server scripts/postgres.sh starts (or --postgres-url); the benchmark makes a
database of its own and drops it at the end. SQLite: a file in a temporary folder (or --dir).
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
DAY_MS = 86_400_000


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
                         "version": 1, "document": document})
        with engine.begin() as connection:
            connection.execute(sa.insert(jobs), rows)
        done = min(begin + BATCH, count)
        print(f"\r  seeded {done:,} / {count:,} ({done / (time.perf_counter() - started):,.0f} rows/s)",
              end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("ANALYZE"))


def make_client(url: str, tmp: Path):
    from api import create_app

    key, record = new_key(OWNER)
    settings = core.Settings.from_env(
        {"STORAGE_URL": (tmp / "objects").as_uri(), "QUEUE_URL": f"sqlite://{tmp / 'queue.db'}",
         "JOBS_URL": url, "API_KEYS": record.line()})
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def pages(client, count: int) -> dict[str, list[str]]:
    """The kinds of page timed, each as the query strings of its requests."""
    deep = client.get("/jobs?limit=500").get_json()["next"]
    for _ in range(3):  # 2,000 jobs down: a page a user reaches by paging
        deep = client.get(f"/jobs?limit=500&cursor={deep}").get_json()["next"]
    middle = datetime.now(UTC) - timedelta(seconds=count // 2)
    window = f"since={(middle - timedelta(hours=1)).isoformat()}&until={middle.isoformat()}".replace("+", "%2B")
    return {
        "first page": ["/jobs"],
        "page after 2,000": [f"/jobs?cursor={deep}"],
        "status=failed,cancelled": ["/jobs?status=failed,cancelled"],
        "status=pending (1 %)": ["/jobs?status=pending"],
        "priority=high": ["/jobs?priority=high"],
        "since/until, mid-history": [f"/jobs?{window}"],
        "summary (all counts)": ["/jobs/summary"],
    }


def measure(client, paths: list[str], repeat: int) -> tuple[float, float, int]:
    timings, size = [], 0
    for _ in range(3):
        client.get(paths[0])  # warm the caches once
    for n in range(repeat):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
        size = len(response.get_json().get("jobs", []))
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], size


def run(store: str, url: str, count: int, repeat: int, tmp: Path) -> None:
    print(f"{store}: seeding {count:,} jobs", file=sys.stderr)
    seed(url, count)
    client = make_client(url, tmp)
    print(f"\n{store}, {count:,} jobs ({count * 9 // 10:,} of them the caller's), {repeat} requests each:")
    print(f"  {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'jobs':>5}")
    for name, paths in pages(client, count).items():
        p50, p95, size = measure(client, paths, repeat)
        print(f"  {name:<28} {p50:8.1f} {p95:8.1f} {size:5}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int, help="jobs to seed")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=200, help="requests per kind of page (default %(default)s)")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:25432/thumbnails")
    parser.add_argument("--dir", type=Path, help="where the SQLite file goes (default: a temporary folder)")
    args = parser.parse_args(argv)
    os.environ.setdefault("ALLOW_ANONYMOUS", "false")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        tmp = Path(folder)
        for store in args.stores.split(","):
            if store == "sqlite":
                run(store, f"sqlite://{tmp / 'jobs.db'}", args.count, args.repeat, tmp)
            else:
                name = f"bench_history_{os.getpid()}"
                admin = sa.create_engine(database.sqlalchemy_url(args.postgres_url), isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
                url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}"
                try:
                    run(store, url, args.count, args.repeat, tmp)
                finally:
                    for key in [key for key in database._engines if key[0] == url]:
                        database._engines.pop(key).dispose()
                    with admin.connect() as connection:
                        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
