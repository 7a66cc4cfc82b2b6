"""Queue in PostgreSQL with SQS's semantics, for deployments with a database and no SQS.

Several queues share one table, told apart by name (the priority queues are `name-high` and
`name-low`). A receive claims visible messages with `FOR UPDATE SKIP LOCKED`, so concurrent
receivers never wait on each other nor get the same message; each claim hides the message for
the visibility timeout, counts the receive and hands out a fresh receipt, so an old receipt
deletes nothing. Times are the database server's clock, whatever the clients' clocks say.

A long poll LISTENs on one channel that every send NOTIFYs (at commit), so a waiting receiver
wakes as soon as a message is sent; it also looks again every POLL_INTERVAL_SECONDS, which
notices messages whose visibility timeout ran out (nothing notifies those).
"""

from __future__ import annotations

import os
import threading
import time

import psycopg
import sqlalchemy as sa

from core.errors import NotFound, TransientError
from storage import database
from storage.queues.base import MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS, Message, Queue

CHANNEL = "thumbnails_queue"
POLL_INTERVAL_SECONDS = 1.0
NOW = "extract(epoch from clock_timestamp())"

CLAIM = sa.text(f"""
WITH picked AS (
    SELECT id FROM queue_messages
    WHERE queue = :queue AND visible_at <= {NOW}
    ORDER BY id LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE queue_messages AS message
SET visible_at = {NOW} + :timeout, receive_count = message.receive_count + 1,
    receipt = message.id::text || '-' || md5(random()::text || clock_timestamp()::text)
FROM picked WHERE message.id = picked.id
RETURNING message.id, message.body, message.receive_count, message.receipt, message.sent_at
""")
SEND = sa.text(f"INSERT INTO queue_messages (queue, body, visible_at, sent_at) VALUES (:queue, :body, {NOW}, {NOW})")
NOTIFY = sa.text("SELECT pg_notify(:channel, :queue)")
DEPTH = sa.text(f"""
SELECT count(*) FILTER (WHERE visible_at <= {NOW}), count(*) FILTER (WHERE visible_at > {NOW})
FROM queue_messages WHERE queue = :queue
""")


class PostgresQueue(Queue):
    def __init__(self, url: str, name: str, visibility_timeout_seconds: int):
        self.url = url
        self.name = name
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self._listeners = threading.local()

    @property
    def _db(self) -> sa.Engine:
        return database.engine(self.url)

    def ensure(self) -> None:
        database.migrate(self.url)

    def ping(self) -> None:
        with database.translated_errors(f"queue {self.name}"), self._db.connect() as connection:
            connection.execute(sa.text("SELECT 1 FROM queue_messages LIMIT 1"))

    def send(self, body: str) -> None:
        with database.translated_errors(f"sending to queue {self.name}"), self._db.begin() as connection:
            connection.execute(SEND, {"queue": self.name, "body": body})
            connection.execute(NOTIFY, {"channel": CHANNEL, "queue": self.name})

    def receive(self, max_messages: int = MAX_MESSAGES_PER_RECEIVE,
                wait_seconds: int = MAX_WAIT_TIME_SECONDS) -> list[Message]:
        deadline = time.monotonic() + min(wait_seconds, MAX_WAIT_TIME_SECONDS)
        limit = max(1, min(max_messages, MAX_MESSAGES_PER_RECEIVE))
        listener = self._listener() if wait_seconds > 0 else None  # listening before looking: no lost wake-up
        while True:
            messages = self._claim(limit)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            self._wait(listener, min(POLL_INTERVAL_SECONDS, remaining))

    def _claim(self, limit: int) -> list[Message]:
        with database.translated_errors(f"receiving from queue {self.name}"), self._db.begin() as connection:
            rows = connection.execute(CLAIM, {"queue": self.name, "limit": limit,
                                              "timeout": self.visibility_timeout_seconds}).all()
        return [Message(row.body, row.receipt, row.receive_count, row.sent_at) for row in sorted(rows)]

    def _listener(self) -> psycopg.Connection | None:
        """This thread's LISTENing connection (made again after a fork or a lost connection)."""
        listener = getattr(self._listeners, "connection", None)
        if listener is not None and (self._listeners.pid != os.getpid() or listener.closed):
            listener = None
        if listener is None:
            try:
                listener = psycopg.connect(_conninfo(self.url), autocommit=True,
                                           connect_timeout=database.CONNECT_TIMEOUT_SECONDS)
                listener.execute(f"LISTEN {CHANNEL}")
            except psycopg.Error:
                return None  # receive still works, by polling
            self._listeners.connection, self._listeners.pid = listener, os.getpid()
        return listener

    def _wait(self, listener: psycopg.Connection | None, seconds: float) -> None:
        """Until a send is notified (any queue's: a spurious wake-up only costs one claim) or time is up."""
        if listener is None:
            time.sleep(seconds)
            return
        try:
            for _ in listener.notifies(timeout=seconds, stop_after=1):
                pass
        except psycopg.Error:
            listener.close()

    def delete(self, receipts: list[str]) -> None:
        if not receipts:
            return
        with database.translated_errors(f"deleting from queue {self.name}"), self._db.begin() as connection:
            connection.execute(sa.text("DELETE FROM queue_messages WHERE receipt = ANY(:receipts)"),
                               {"receipts": list(receipts)})

    def approximate_depth(self) -> tuple[int, int]:
        with database.translated_errors(f"queue {self.name}"), self._db.connect() as connection:
            waiting, in_flight = connection.execute(DEPTH, {"queue": self.name}).one()
        return int(waiting), int(in_flight)

    def change_visibility(self, receipt: str, seconds: int) -> None:
        with database.translated_errors(f"queue {self.name}"), self._db.begin() as connection:
            changed = connection.execute(
                sa.text(f"UPDATE queue_messages SET visible_at = {NOW} + :seconds WHERE receipt = :receipt"),
                {"seconds": seconds, "receipt": receipt}).rowcount
        if not changed:
            raise NotFound(f"changing visibility in queue {self.name}: the receipt is stale or unknown")

    def delete_queue(self) -> None:
        """Remove every message of this queue (tests clean up after themselves)."""
        with database.translated_errors(f"queue {self.name}"), self._db.begin() as connection:
            connection.execute(sa.text("DELETE FROM queue_messages WHERE queue = :queue"), {"queue": self.name})


def _conninfo(url: str) -> str:
    """What psycopg takes: the URL without SQLAlchemy's driver name."""
    try:
        return database.sqlalchemy_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    except ValueError as error:
        raise TransientError(str(error)) from error
