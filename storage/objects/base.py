"""What every object store offers; backends sit beside this module."""

from __future__ import annotations

import abc
import dataclasses
import itertools
from collections.abc import Iterator
from typing import BinaryIO


@dataclasses.dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str
    version: str = ""  # changes whenever the object is rewritten (S3's ETag)
    modified: float | None = None  # when it was last written, seconds since the epoch


@dataclasses.dataclass(frozen=True)
class ListedObject:
    key: str
    modified: float  # when it was last written, seconds since the epoch (the store's clock)


class ObjectStore(abc.ABC):
    """Keys are '/'-separated paths chosen by this project, never by a client."""

    # True where expire_after() sets a rule the store applies on its own (S3 lifecycle);
    # False where it sweeps once, so the thumbnailer repeats it while idle.
    expires_by_itself = False

    @abc.abstractmethod
    def ensure(self) -> None:
        """Create the bucket or folder if it is missing."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Return if the store answers; raise TransientError if it does not."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, content_type: str, only_if: str | None = None,
            only_if_absent: bool = False, crc32: int | None = None) -> str:
        """Write bytes or a readable file; a file is streamed, not read whole. Return the new version.

        crc32: the data's CRC32, where the caller took it already (api.forms.Spool): S3 sends
        it for the server to check instead of reading the data once more to compute it.

        only_if: write only if the object still has this version, else raise Conflict. This is
        what keeps two racing writers from undoing each other.
        only_if_absent: write only if there is no such object yet, else raise Conflict (S3's
        If-None-Match: *): of two writers creating the same key, exactly one wins.
        """

    @abc.abstractmethod
    def get(self, key: str) -> StoredObject:
        """Raise NotFound when the key does not exist."""

    def get_data(self, key: str) -> StoredObject:
        """get() for an object never written conditionally (an input, an output): its version
        may be left empty where working it out costs a pass over the data (the local folder)."""
        return self.get(key)

    @abc.abstractmethod
    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """Every object whose key starts with prefix, in no promised order, read page by page."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under prefix, in no promised order (for imports and sweeps, not requests)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its keys")

    def presigned_get(self, key: str, expires_in_seconds: int, cache_control: str) -> str:
        """A URL that reads key without credentials for that long (S3's pre-signed GET), its
        answer carrying that Cache-Control. Computed locally: no request is made."""
        raise NotImplementedError(f"{type(self).__name__} cannot pre-sign URLs")

    @abc.abstractmethod
    def expire_after(self, prefix: str, days: int) -> None:
        """Have the store itself remove objects under prefix once they are `days` old."""

    def list_keys(self, prefix: str, limit: int) -> list[tuple[str, float]]:
        """Up to `limit` keys under prefix (a folder: ends with '/'), with when each was last
        written (seconds since the epoch); in no promised order. Reads no further than needed."""
        return [(listed.key, listed.modified) for listed in itertools.islice(self.list_objects(prefix), limit)]
