"""The database's tables, as SQLAlchemy Core metadata: what the Alembic migrations create.

jobs: one row per job. The document column holds the job's JSON (the record itself); the other
columns copy what queries filter and sort on; `version` is a hash of the document, as an ETag
is. History is ordered by submit time, then `seq` (which grows with every new row) between jobs
of the same millisecond; a page ends at such a pair, so the pages after it stay the same however
many jobs arrive meanwhile. Times are integer
milliseconds since the epoch: the same on SQLite and PostgreSQL, and cheap to compare.

queue_messages: the PostgreSQL queue (storage.queues.postgres), several queues in one table.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
# SQLite makes only an INTEGER PRIMARY KEY grow by itself.
Sequence = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("seq", Sequence, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("start_ms", sa.BigInteger(), nullable=False),
    sa.Column("finish_ms", sa.BigInteger(), nullable=True),
    sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),
    # An owner's history, newest first, with or without a status filter.
    sa.Index("jobs_owner_start", "owner", "start_ms", "seq"),
    sa.Index("jobs_owner_status_start", "owner", "status", "start_ms", "seq"),
    # An owner's counts by status and priority, read from the index alone.
    sa.Index("jobs_owner_status_priority", "owner", "status", "priority"),
    # Across owners: what is pending or processing and since when (gauges, reconciler).
    sa.Index("jobs_status_updated", "status", "updated_ms"),
    # Retention: records whose job finished long ago.
    sa.Index("jobs_finish", "finish_ms"),
)

queue_messages = sa.Table(
    "queue_messages", metadata,
    sa.Column("id", Sequence, primary_key=True, autoincrement=True),
    sa.Column("queue", sa.String(80), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("visible_at", sa.Float(), nullable=False),
    sa.Column("receive_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("receipt", sa.String(64), nullable=True, unique=True),
    sa.Column("sent_at", sa.Float(), nullable=False),
    sa.Index("queue_messages_queue_visible", "queue", "visible_at", "id"),
)
