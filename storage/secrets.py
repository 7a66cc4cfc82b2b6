"""A secret every process of a deployment shares without configuration: made once, kept in the
object store they all use.

The first process to need it writes a random one with a create-only write (S3's If-None-Match:
*, the folder store's exclusive rename), so of two racing processes exactly one wins and both
then read the same. Kept under `secrets/`, outside `jobs/`, so the expiry rule never removes it.
"""

from __future__ import annotations

import secrets

from core.errors import Conflict, NotFound
from storage.objects.base import ObjectStore

PREFIX = "secrets/"
SECRET_BYTES = 32
CONTENT_TYPE = "text/plain"


def shared_secret(objects: ObjectStore, name: str) -> bytes:
    """The secret stored as `secrets/<name>`, made now if there is none yet."""
    key = PREFIX + name
    try:
        return objects.get(key).data
    except NotFound:
        pass
    try:
        made = secrets.token_urlsafe(SECRET_BYTES).encode()
        objects.put(key, made, CONTENT_TYPE, only_if_absent=True)
        return made
    except Conflict:  # another process made it first: use theirs
        return objects.get(key).data
