"""A job's image when it is not uploaded: `source_url` (fetched by the thumbnailer, under the
callback-URL address policy of core.callbacks) or `source`, an object named "s3://bucket/key"
in a bucket SOURCE_BUCKETS allows. Only the naming rules live here; the reading is done by
storage.sources (objects) and thumbnailer.fetch (URLs)."""

from __future__ import annotations

import re

from core.errors import InvalidOption

SCHEME = "s3://"
# S3's rules for bucket names (3-63 lowercase letters, digits, dots and hyphens, starting and
# ending with a letter or digit) and its key limit (1024 bytes of UTF-8).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
MAX_KEY_BYTES = 1024
MAX_SOURCE_CHARS = len(SCHEME) + 63 + 1 + MAX_KEY_BYTES


def is_bucket_name(name: str) -> bool:
    return bool(_BUCKET.fullmatch(name)) and ".." not in name


def parse_object_source(text: object, field: str = "source") -> tuple[str, str]:
    """"s3://bucket/key" -> (bucket, key); InvalidOption naming `field` otherwise."""
    if not isinstance(text, str) or len(text) > MAX_SOURCE_CHARS or not text.startswith(SCHEME):
        raise InvalidOption(field, "must look like s3://bucket/key")
    bucket, _, key = text[len(SCHEME):].partition("/")
    if not is_bucket_name(bucket):
        raise InvalidOption(field, "must look like s3://bucket/key, with an S3 bucket name")
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES or not key.isprintable():
        raise InvalidOption(field, f"must name an object key of 1 to {MAX_KEY_BYTES} bytes, printable characters")
    return bucket, key
