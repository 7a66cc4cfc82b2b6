"""What every object store offers; backends sit beside this module."""

from __future__ import annotations

import abc
import dataclasses
from typing import BinaryIO


@dataclasses.dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str


class ObjectStore(abc.ABC):
    """Keys are '/'-separated paths chosen by this project, never by a client."""

    @abc.abstractmethod
    def ensure(self) -> None:
        """Create the bucket or folder if it is missing."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Return if the store answers; raise TransientError if it does not."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        """Write bytes or a readable file; a file is streamed, not read whole."""

    @abc.abstractmethod
    def get(self, key: str) -> StoredObject:
        """Raise NotFound when the key does not exist."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""

    @abc.abstractmethod
    def expire_after(self, prefix: str, days: int) -> None:
        """Have the store itself remove objects under prefix once they are `days` old."""
