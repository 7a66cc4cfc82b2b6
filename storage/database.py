"""SQLAlchemy engines for SQLite and PostgreSQL, their errors in the project's terms, migrations.

One engine per URL and process: a pool's connections must never cross a fork (gunicorn and the
thumbnailer pool fork after start-up), so a child process builds its own. Migrations (Alembic,
storage/migrations) run at start-up by whichever process gets there first; the others wait on
a lock (a file lock beside a SQLite file, an advisory lock on PostgreSQL) and find nothing to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

from core.errors import Conflict, ThumbnailsError, TransientError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5
# Any constant: the key of the PostgreSQL advisory lock that serialises migrations.
MIGRATION_LOCK_KEY = 7_160_001

_engines: dict[tuple[str, int], sa.Engine] = {}
_engines_lock = threading.Lock()


def sqlalchemy_url(url: str) -> sa.URL:
    """sqlite:///abs/file.db or postgresql://user@host:port/db, as SQLAlchemy spells them."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        # Ours: sqlite:///abs/file.db (an absolute path). SQLAlchemy reads that as relative.
        database = parsed.database or ""
        return parsed.set(database=database if database.startswith("/") else "/" + database)
    raise ValueError(f"not a SQLite or PostgreSQL URL: {url!r}")


def engine(url: str) -> sa.Engine:
    """This process's engine for the URL."""
    key = (url, os.getpid())
    with _engines_lock:
        if key not in _engines:
            _engines[key] = _create_engine(sqlalchemy_url(url))
        return _engines[key]


def _create_engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
        created = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

        @sa.event.listens_for(created, "connect")
        def _pragmas(connection, _record):
            # WAL: readers never wait for the writer; NORMAL sync is durable at each checkpoint
            # and safe against corruption, as SQLite's documentation says for WAL mode.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return created
    # pre_ping: a restarted server must not hand out dead pooled connections.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})


@contextlib.contextmanager
def translated_errors(what: str):
    """Lost connections and locks are transient; a unique-key clash is a Conflict."""
    try:
        yield
    except exc.IntegrityError as error:
        raise Conflict(f"{what}: {error.orig}") from error
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError) as error:
        raise TransientError(f"{what}: {getattr(error, 'orig', error)}") from error
    except exc.SQLAlchemyError as error:
        raise ThumbnailsError(f"{what}: {error}") from error
    except OSError as error:
        raise TransientError(f"{what}: {error}") from error


def head_revision() -> str:
    """The newest migration: the highest-numbered file in migrations/versions (NNNN_name.py)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def current_revision(url: str) -> str | None:
    """Read Alembic's version table directly: start-up checks stay cheap (no Alembic import)."""
    with translated_errors(f"reading the schema version of {safe_url(url)}"), engine(url).connect() as connection:
        return _stored_revision(connection)


def _stored_revision(connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def migrate(url: str) -> bool:
    """Bring the database to the newest schema; True if anything was done."""
    if current_revision(url) == head_revision():
        return False
    from alembic import command
    from alembic.config import Config

    db = engine(url)
    with translated_errors(f"migrating {safe_url(url)}"), _sqlite_file_lock(db), db.connect() as connection:
        if db.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        if _stored_revision(connection) == head_revision():
            return False  # another process did it while this one waited
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing useful here
        command.upgrade(config, "head")
        connection.commit()
    return True


@contextlib.contextmanager
def _sqlite_file_lock(db: sa.Engine):
    if db.dialect.name != "sqlite":
        yield
        return
    path = Path(db.url.database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def safe_url(url: str) -> str:
    """The URL without a password, for messages and logs."""
    return sa.make_url(url).render_as_string(hide_password=True)
