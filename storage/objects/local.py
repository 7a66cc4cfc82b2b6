"""Object store in a folder on the local disk: the embedded backend, no server needed.

Each object is one file holding a content-type line and then the bytes, written to a
temporary file and renamed into place, so a reader sees the old object or the new one,
never half of one, and never data with another object's content type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from core.errors import Conflict, InvalidKey, NotFound, TransientError
from storage.objects.base import ListedObject, ObjectStore, StoredObject

# A key is '/'-separated segments of these characters; no segment starts with a dot, so
# '.', '..' and our own temporary files ('.tmp-…') can never be named by a key.
SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_KEY_LENGTH = 1024
TEMPORARY_PREFIX = ".tmp-"
LOCK_FILE = ".lock"  # serialises writes of bytes, so a conditional write's check-then-rename holds


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file behind a key; raise InvalidKey for anything that could leave the root."""
        segments = key.split("/")
        if len(key) > MAX_KEY_LENGTH or not all(SEGMENT.fullmatch(segment) for segment in segments):
            raise InvalidKey(f"not a valid object key: {key!r}")
        return self.root.joinpath(*segments)

    def ensure(self) -> None:
        with _translated_errors(f"creating {self.root}"):
            self.root.mkdir(parents=True, exist_ok=True)

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise TransientError(f"{self.root} is not a writable folder")

    def put(self, key: str, data: bytes | BinaryIO, content_type: str, only_if: str | None = None,
            only_if_absent: bool = False, crc32: int | None = None) -> str:
        target = self.path(key)
        if "\n" in content_type:
            raise InvalidKey(f"content type of {key!r} has a line break")
        header = content_type.encode() + b"\n"
        if not isinstance(data, (bytes, bytearray, memoryview)):
            if only_if is not None or only_if_absent:
                raise ValueError("conditional writes take bytes, not a stream")
            with _translated_errors(f"writing {key}"):
                self._replace(target, header, data)
            return ""
        with _translated_errors(f"writing {key}"), self._write_lock():
            if only_if is not None:
                current = self._current_version(target)
                if current is None:
                    raise NotFound(f"writing {key}: not found")  # as S3 answers If-Match on a missing key
                if current != only_if:
                    raise Conflict(f"writing {key}: changed by another writer")
            if only_if_absent and self._current_version(target) is not None:
                raise Conflict(f"writing {key}: already written by another writer")
            self._replace(target, header, bytes(data))
        return _version(header + bytes(data))

    def _replace(self, target: Path, header: bytes, data: bytes | BinaryIO) -> None:
        """Write a temporary file beside the target, then rename it over the target."""
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=TEMPORARY_PREFIX)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(header)
                if isinstance(data, bytes):
                    file.write(data)
                else:
                    shutil.copyfileobj(data, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _write_lock(self):
        """An exclusive lock across threads and processes (flock on a file in the root)."""
        with open(self.root / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _current_version(self, target: Path) -> str | None:
        try:
            return _version(target.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return None

    def get(self, key: str) -> StoredObject:
        stored, raw = self._read(key)
        return dataclasses.replace(stored, version=_version(raw))

    def get_data(self, key: str) -> StoredObject:
        """No version: a SHA-256 of a 12 MP input costs about 5 ms of CPU."""
        return self._read(key)[0]

    def _read(self, key: str) -> tuple[StoredObject, bytes]:
        path = self.path(key)
        with _translated_errors(f"reading {key}"):
            try:
                with open(path, "rb") as file:
                    raw, modified = file.read(), os.fstat(file.fileno()).st_mtime
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise NotFound(f"reading {key}: not found") from None
        content_type, _, data = raw.partition(b"\n")
        return StoredObject(data, content_type.decode(), "", modified), raw

    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """A walk of the folders under the root, skipping temporary and lock files."""
        start = self.root.joinpath(*prefix.rpartition("/")[0].split("/")) if "/" in prefix else self.root
        with _translated_errors(f"listing {prefix}"):
            for folder, folders, files in os.walk(start):
                folders[:] = [name for name in folders if not name.startswith(".")]
                for name in files:
                    if name.startswith("."):
                        continue
                    path = Path(folder, name)
                    key = path.relative_to(self.root).as_posix()
                    if not key.startswith(prefix):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        yield ListedObject(key, path.stat().st_mtime)

    def delete(self, key: str) -> None:
        path = self.path(key)
        with _translated_errors(f"deleting {key}"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()

    def keys(self, prefix: str):
        folder = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        with _translated_errors(f"listing {folder}"):
            for path in folder.rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    yield path.relative_to(self.root).as_posix()

    def expire_after(self, prefix: str, days: int) -> None:
        """No lifecycle rules on a plain folder: sweep now for files older than `days`."""
        cutoff = time.time() - days * 86400
        folder = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        with _translated_errors(f"sweeping {folder}"):
            for path in folder.rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()


def _version(raw: bytes) -> str:
    """A version that changes with the stored bytes, as an ETag does."""
    return hashlib.sha256(raw).hexdigest()[:32]


@contextlib.contextmanager
def _translated_errors(what: str):
    """A full disk or a permission problem may pass (or be fixed); report it as transient."""
    try:
        yield
    except OSError as error:
        raise TransientError(f"{what}: {error}") from error
