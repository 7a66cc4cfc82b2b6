"""`thumbnails import-jobs`: job documents from the object store into the job database.

Idempotent: a job that already has a row is left as it is, so the command can run again after
an interruption, or while the service already writes to the database. Documents are read with a
few threads (S3 answers each GET in milliseconds, one by one that is slow), then inserted oldest
first so that the history's order is the order of submission. All documents are held in memory
before the insert (about half a kilobyte each).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

import core
import storage
from cli.commands import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, _fail
from storage.jobstore import PREFIX, DocumentJobStore
from storage.sqljobs import SqlJobStore

READ_THREADS = 8
INSERT_BATCH = 500


def import_jobs(environ, progress: bool = True) -> int:
    try:
        settings = core.Settings.from_env(environ)
    except core.ConfigurationError as error:
        return _fail(str(error), EXIT_USAGE)
    backends = storage.connect(settings)
    if not isinstance(backends.jobs, SqlJobStore):
        return _fail("JOBS_URL names no database to import into (set it to sqlite:///... or postgresql://...)",
                     EXIT_USAGE)
    documents = DocumentJobStore(backends.objects)
    try:
        backends.jobs.ensure()
        keys = [key for key in backends.objects.keys(PREFIX) if key.endswith("/job.json")]
        found, skipped = [], 0
        with ThreadPoolExecutor(READ_THREADS) as pool, \
                tqdm(total=len(keys), unit="job", desc="reading", disable=not progress, file=sys.stderr) as bar:
            for job in pool.map(lambda key: _read(documents, key), keys):
                bar.update()
                if job is None:
                    skipped += 1
                else:
                    found.append(job)
        found.sort(key=lambda job: job.start)
        added = 0
        with tqdm(total=len(found), unit="job", desc="writing", disable=not progress, file=sys.stderr) as bar:
            for start in range(0, len(found), INSERT_BATCH):
                batch = found[start:start + INSERT_BATCH]
                added += backends.jobs.import_jobs(batch)
                bar.update(len(batch))
    except core.ThumbnailsError as error:
        return _fail(str(error), EXIT_REFUSED)
    print(f"{len(keys)} documents: {added} imported, {len(found) - added} already there, "
          f"{skipped} unreadable or gone")
    return EXIT_OK


def _read(documents: DocumentJobStore, key: str) -> core.Job | None:
    """The job, or None for a document deleted meanwhile or corrupt (counted, not fatal)."""
    try:
        return documents.load(key.removeprefix(PREFIX).split("/", 1)[0])
    except (core.NotFound, core.InvalidJob):
        return None
