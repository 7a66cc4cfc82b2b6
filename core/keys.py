"""API keys: made once and shown once, stored only as SHA-256 hashes, checked in constant time.

A key looks like `thk_<key id>_<secret>`. The key id (64 random bits; keys made before were
32 bits, still accepted) finds the stored record; the hash of the whole key is compared with
hmac.compare_digest. Two records with one key id are a configuration error, never a silent
replacement. Keys are 256-bit random, so a plain SHA-256
is enough (no password-style stretching is needed). Records are `key_id:owner:sha256hex`,
one per line in API_KEYS_FILE or comma-separated in API_KEYS. API_KEYS_FILE is read again
when it changes (KeyRing.refresh), so keys are made and removed without a restart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigurationError

log = logging.getLogger(__name__)
PREFIX = "thk"
RECHECK_SECONDS = 1.0  # how often, at most, API_KEYS_FILE is looked at for a change
_OWNER = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_KEY_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{8}")
KEY_ID_BYTES = 8
_DUMMY_DIGEST = hashlib.sha256(b"no such key").hexdigest()


@dataclasses.dataclass(frozen=True)
class KeyRecord:
    key_id: str
    owner: str
    digest: str

    def line(self) -> str:
        return f"{self.key_id}:{self.owner}:{self.digest}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(owner: str) -> tuple[str, KeyRecord]:
    """Return the key (show it once) and the record to store."""
    if not _OWNER.match(owner):
        raise ValueError(f"owner must be 1-64 letters, digits or ._@-, not {owner!r}")
    key = f"{PREFIX}_{secrets.token_hex(KEY_ID_BYTES)}_{secrets.token_urlsafe(32)}"
    return key, KeyRecord(key.split("_")[1], owner, _digest(key))


def parse_records(text: str, source: str, records: dict[str, KeyRecord] | None = None) -> dict[str, KeyRecord]:
    """Add the records in text to `records` (a new dict by default); a repeated key id is refused."""
    records = {} if records is None else records
    for raw in re.split(r"[,\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":")
        if len(parts) != 3 or not _KEY_ID.fullmatch(parts[0]) or not _OWNER.match(parts[1]) \
                or not re.fullmatch(r"[0-9a-f]{64}", parts[2]):
            raise ConfigurationError(f"{source}: malformed key record {entry[:20]!r}… (want key_id:owner:sha256)")
        if parts[0] in records:
            raise ConfigurationError(f"{source}: key id {parts[0]} appears twice; remove one of the records")
        records[parts[0]] = KeyRecord(*parts)
    return records


class KeyRing:
    """The keys the api accepts: API_KEYS, and API_KEYS_FILE read again when it changes.

    A key made or removed in the file takes effect without a restart: at most once every
    RECHECK_SECONDS a request stats the file (cheap), and a changed inode, size or mtime has it
    read again. A file that cannot then be read or parsed keeps the keys in use and logs an
    error, once per change: a half-edited file never locks everyone out, never answers 500."""

    def __init__(self, records: dict[str, KeyRecord], api_keys: str = "", api_keys_file: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self.records = records
        self._api_keys = api_keys
        self._file = api_keys_file
        self._clock = clock
        self._checked = clock()
        self._seen = _signature(api_keys_file) if api_keys_file else None
        self._refreshing = threading.Lock()

    @classmethod
    def from_settings(cls, api_keys: str, api_keys_file: str) -> KeyRing:
        """A file that cannot be used at start-up is a configuration error (the api does not start)."""
        ring = cls({}, api_keys, api_keys_file)  # stats the file before reading it: a change during the read is seen
        ring.records = _load(api_keys, api_keys_file)
        return ring

    def refresh(self) -> None:
        if not self._file or self._clock() - self._checked < RECHECK_SECONDS:
            return
        if not self._refreshing.acquire(blocking=False):
            return  # another request is at it; this one uses the keys in hand
        try:
            self._checked = self._clock()
            signature = _signature(self._file)
            if signature == self._seen:
                return
            self._seen = signature
            try:
                records = _load(self._api_keys, self._file)
            except ConfigurationError as error:
                log.error("API_KEYS_FILE changed but cannot be used; keeping the %d keys in use: %s",
                          len(self.records), error)
                return
            self.records = records
            log.info("API_KEYS_FILE reloaded: %d keys", len(records))
        finally:
            self._refreshing.release()

    def owner_of(self, key: str) -> str | None:
        """The owner of a valid key, else None; the same work is done for unknown key ids."""
        self.refresh()
        records = self.records
        parts = key.split("_", 2)
        record = records.get(parts[1]) if len(parts) == 3 and parts[0] == PREFIX else None
        expected = record.digest if record else _DUMMY_DIGEST
        matches = hmac.compare_digest(_digest(key), expected)
        return record.owner if record and matches else None


def _load(api_keys: str, api_keys_file: str) -> dict[str, KeyRecord]:
    records = parse_records(api_keys, "API_KEYS")
    if api_keys_file:
        try:
            text = Path(api_keys_file).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"API_KEYS_FILE: cannot read {api_keys_file}: {error}") from error
        parse_records(text, "API_KEYS_FILE", records)
    return records


def _signature(path: str) -> tuple:
    """What changes when the file does: its inode (a file renamed over it, a Kubernetes Secret's
    symlink swap, followed), size and modification time; or why it cannot be had."""
    try:
        status = os.stat(path)
    except OSError as error:
        return ("unreadable", error.errno)
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
