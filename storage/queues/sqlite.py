"""Queue in one SQLite file with SQS's semantics: the embedded backend, no server needed.

A received message is hidden for the visibility timeout and comes back unless deleted in
time; each receive counts and hands out a fresh receipt, so an old receipt (the message was
received again by someone else) deletes nothing. Every claim runs in a `BEGIN IMMEDIATE`
transaction, which takes SQLite's write lock first: two processes can never claim the same
message. Long polls re-check every POLL_INTERVAL_SECONDS, which also notices messages that
another process sent or whose visibility timeout ran out.

Standard library only: the SQLite queue packages on PyPI (litequeue, persist-queue, sqqueue)
have no visibility timeout with per-receive receipts.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import sqlite3
import time
from pathlib import Path

from core.errors import NotFound, ThumbnailsError, TransientError
from storage.queues.base import MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_TIME_SECONDS, Message, Queue

POLL_INTERVAL_SECONDS = 0.05
BUSY_TIMEOUT_SECONDS = 10
# Idle connections a process keeps per queue file: its threads' worth.
MAX_IDLE_CONNECTIONS = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT UNIQUE,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_visible_at ON messages (visible_at);
"""


class SqliteQueue(Queue):
    def __init__(self, path: Path, visibility_timeout_seconds: int):
        self.path = Path(path)
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._inherited: queue.SimpleQueue | None = None
        self._pool_pid = os.getpid()

    def ensure(self) -> None:
        with _translated_errors(f"creating queue {self.path}"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection(create=True) as connection:
                connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
                connection.executescript(SCHEMA)

    def ping(self) -> None:
        with self._connection() as connection:
            connection.execute("SELECT 1 FROM messages LIMIT 1").fetchall()

    def send(self, body: str) -> None:
        with self._connection() as connection:
            now = time.time()
            connection.execute("INSERT INTO messages (body, visible_at, sent_at) VALUES (?, ?, ?)", (body, now, now))

    def receive(self, max_messages: int = MAX_MESSAGES_PER_RECEIVE,
                wait_seconds: int = MAX_WAIT_TIME_SECONDS) -> list[Message]:
        deadline = time.monotonic() + min(wait_seconds, MAX_WAIT_TIME_SECONDS)
        limit = max(1, min(max_messages, MAX_MESSAGES_PER_RECEIVE))
        while True:
            messages = self._claim(limit)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(POLL_INTERVAL_SECONDS, remaining))

    def _claim(self, limit: int) -> list[Message]:
        """Hide up to `limit` visible messages and hand each a fresh receipt."""
        with self._connection() as connection:
            now = time.time()
            # A plain read first: idle pollers do not take the write lock.
            if connection.execute("SELECT 1 FROM messages WHERE visible_at <= ? LIMIT 1", (now,)).fetchone() is None:
                return []
            connection.execute("BEGIN IMMEDIATE")
            rows = connection.execute(
                "SELECT id, body, receive_count, sent_at FROM messages WHERE visible_at <= ? ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall()
            messages = []
            for message_id, body, receive_count, sent_at in rows:
                receipt = f"{message_id}-{secrets.token_hex(16)}"
                connection.execute(
                    "UPDATE messages SET visible_at = ?, receive_count = ?, receipt = ? WHERE id = ?",
                    (now + self.visibility_timeout_seconds, receive_count + 1, receipt, message_id),
                )
                messages.append(Message(body, receipt, receive_count + 1, sent_at))
            connection.execute("COMMIT")
            return messages

    def delete(self, receipts: list[str]) -> None:
        with self._connection() as connection:
            connection.executemany("DELETE FROM messages WHERE receipt = ?", [(receipt,) for receipt in receipts])

    def approximate_depth(self) -> tuple[int, int]:
        with self._connection() as connection:
            waiting, in_flight = connection.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ?), 0) FROM messages",
                (time.time(), time.time()),
            ).fetchone()
        return int(waiting), int(in_flight)

    def change_visibility(self, receipt: str, seconds: int) -> None:
        with self._connection() as connection:
            changed = connection.execute(
                "UPDATE messages SET visible_at = ? WHERE receipt = ?", (time.time() + seconds, receipt)
            ).rowcount
        if not changed:
            raise NotFound(f"changing visibility in {self.path}: the receipt is stale or unknown")

    @contextlib.contextmanager
    def _connection(self, create: bool = False):
        """A connection of this process's pool, one caller at a time: safe in threads, greenlets
        and after fork. Opening one per call cost about a millisecond of CPU, and closing the last
        one checkpoints the WAL; a connection that saw an error is closed, not kept."""
        with _translated_errors(f"queue {self.path}"):
            if create:
                connection = self._open("rwc")
                try:
                    yield connection
                finally:
                    connection.close()
                return
            pool = self._pool()
            try:
                connection = pool.get_nowait()
            except queue.Empty:
                connection = self._open("rw")
            healthy = False
            try:
                yield connection
                healthy = True
            finally:
                if connection.in_transaction:
                    connection.rollback()
                if healthy and pool.qsize() < MAX_IDLE_CONNECTIONS:
                    pool.put(connection)
                else:
                    connection.close()

    def _open(self, mode: str) -> sqlite3.Connection:
        return sqlite3.connect(f"{self.path.as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
                               isolation_level=None, check_same_thread=False)

    def _pool(self) -> queue.SimpleQueue:
        """This process's idle connections (a forked child starts its own)."""
        if self._pool_pid != os.getpid():
            self._inherited = self._idle  # the parent's: neither used nor closed (SQLite and fork)
            self._idle, self._pool_pid = queue.SimpleQueue(), os.getpid()
        return self._idle


@contextlib.contextmanager
def _translated_errors(what: str):
    """A missing table or file is NotFound, a locked or unreadable file transient, the rest ours."""
    try:
        yield
    except sqlite3.OperationalError as error:
        text = str(error)
        if "no such table" in text:
            raise NotFound(f"{what}: not found") from error
        raise TransientError(f"{what}: {text}") from error
    except sqlite3.DatabaseError as error:
        raise ThumbnailsError(f"{what}: {error}") from error
    except OSError as error:
        raise TransientError(f"{what}: {error}") from error
