"""Objects a job names as its `source` ("s3://bucket/key"), read with the service's own S3
client from the buckets SOURCE_BUCKETS allows; errors become the job's SourceError kinds."""

from __future__ import annotations

from core.errors import (
    InvalidOption,
    NotFound,
    PermissionDenied,
    SourceError,
    SourceTooLarge,
    SourceUnavailable,
    ThumbnailsError,
    TransientError,
)
from core.sources import parse_object_source
from storage.aws import translated_errors
from storage.objects.base import ObjectStore
from storage.objects.s3 import S3ObjectStore


class SourceObjects:
    def __init__(self, client, allowed_buckets: tuple[str, ...]):
        self.client = client
        self.allowed_buckets = allowed_buckets

    def read(self, source: str, max_bytes: int) -> bytes:
        """The object's bytes, refused past max_bytes before its body is read."""
        try:
            bucket, key = parse_object_source(source)
        except InvalidOption as error:
            raise SourceError(str(error)) from None
        if bucket not in self.allowed_buckets:  # the setting changed since the job was accepted
            raise SourceError(f"bucket {bucket} is no longer one this service may read (SOURCE_BUCKETS)")
        try:
            with translated_errors(f"reading {source}"):
                response = self.client.get_object(Bucket=bucket, Key=key)
                size = response.get("ContentLength", 0)
                if size > max_bytes:
                    response["Body"].close()
                    raise SourceTooLarge(f"the object is {size} bytes; the limit is {max_bytes}")
                data = response["Body"].read(max_bytes + 1)
            if len(data) > max_bytes:
                raise SourceTooLarge(f"the object is larger than the limit of {max_bytes} bytes")
            return data
        except SourceError:
            raise
        except NotFound:
            raise SourceError("no such object, or no such bucket") from None
        except PermissionDenied:
            raise SourceError("this service's credentials may not read it (s3:GetObject)") from None
        except TransientError as error:
            raise SourceUnavailable(f"storage did not answer: {error}") from None
        except ThumbnailsError as error:
            raise SourceError(str(error)) from None


def source_objects(objects: ObjectStore, allowed_buckets: tuple[str, ...]) -> SourceObjects | None:
    """A reader on the object store's S3 client; None on a folder store (the api refuses `source` there)."""
    return SourceObjects(objects.client, allowed_buckets) if isinstance(objects, S3ObjectStore) else None
