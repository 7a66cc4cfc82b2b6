"""Object store in a folder on the local disk: the embedded backend, no server needed.

Each object is one file holding a content-type line and then the bytes, written to a
temporary file and renamed into place, so a reader sees the old object or the new one,
never half of one, and never data with another object's content type.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from storage.errors import InvalidKey, NotFound, TransientError
from storage.objects.base import ObjectStore, StoredObject

# A key is '/'-separated segments of these characters; no segment starts with a dot, so
# '.', '..' and our own temporary files ('.tmp-…') can never be named by a key.
SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_KEY_LENGTH = 1024
TEMPORARY_PREFIX = ".tmp-"


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

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        target = self.path(key)
        if "\n" in content_type:
            raise InvalidKey(f"content type of {key!r} has a line break")
        with _translated_errors(f"writing {key}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=TEMPORARY_PREFIX)
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(content_type.encode() + b"\n")
                    if isinstance(data, (bytes, bytearray, memoryview)):
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

    def get(self, key: str) -> StoredObject:
        path = self.path(key)
        with _translated_errors(f"reading {key}"):
            try:
                raw = path.read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise NotFound(f"reading {key}: not found") from None
        content_type, _, data = raw.partition(b"\n")
        return StoredObject(data, content_type.decode())

    def delete(self, key: str) -> None:
        path = self.path(key)
        with _translated_errors(f"deleting {key}"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()

    def expire_after(self, prefix: str, days: int) -> None:
        """No lifecycle rules on a plain folder: sweep now for files older than `days`."""
        cutoff = time.time() - days * 86400
        folder = self.root / prefix.strip("/") if prefix.strip("/") else self.root
        with _translated_errors(f"sweeping {folder}"):
            for path in folder.rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()


@contextlib.contextmanager
def _translated_errors(what: str):
    """A full disk or a permission problem may pass (or be fixed); report it as transient."""
    try:
        yield
    except OSError as error:
        raise TransientError(f"{what}: {error}") from error
