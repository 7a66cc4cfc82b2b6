"""Object store on S3 or an S3-compatible server (MinIO)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import BinaryIO

import botocore.exceptions

from core.errors import NotFound
from storage.aws import error_code, translated_errors
from storage.objects.base import ListedObject, ObjectStore, StoredObject


class S3ObjectStore(ObjectStore):
    expires_by_itself = True
    def __init__(self, client, bucket: str):
        self.client = client
        self.bucket = bucket

    def ensure(self) -> None:
        try:
            with translated_errors(f"bucket {self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
        except NotFound:
            with translated_errors(f"creating bucket {self.bucket}"):
                try:
                    self.client.create_bucket(Bucket=self.bucket, **self._location())
                except botocore.exceptions.ClientError as error:
                    if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def _location(self) -> dict:
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            return {"CreateBucketConfiguration": {"LocationConstraint": region}}
        return {}

    def ping(self) -> None:
        with translated_errors(f"bucket {self.bucket}"):
            self.client.head_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str, only_if: str | None = None,
            only_if_absent: bool = False, crc32: int | None = None) -> str:
        # One PutObject for a (seekable) file too: botocore streams it in small blocks, so
        # nothing is held whole in memory, and there are no transfer threads or multipart
        # chunk buffers (upload_fileobj's) per upload. S3 takes up to 5 GiB in one PUT.
        body = bytes(data) if isinstance(data, (bytearray, memoryview)) else data
        condition = {} if only_if is None else {"IfMatch": only_if}
        if only_if_absent:
            condition["IfNoneMatch"] = "*"
        if crc32 is not None:  # botocore computes none when one is given
            condition["ChecksumCRC32"] = base64.b64encode(crc32.to_bytes(4, "big")).decode()
        with translated_errors(f"writing {key}"):
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                              **condition)
        return response.get("ETag", "")

    def get(self, key: str) -> StoredObject:
        with translated_errors(f"reading {key}"):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return StoredObject(response["Body"].read(), response.get("ContentType", "application/octet-stream"),
                                response.get("ETag", ""), response["LastModified"].timestamp())

    def presigned_get(self, key: str, expires_in_seconds: int, cache_control: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key, "ResponseCacheControl": cache_control},
            ExpiresIn=expires_in_seconds)

    def list_objects(self, prefix: str) -> Iterator[ListedObject]:
        """ListObjectsV2, a thousand keys a call."""
        paginator = self.client.get_paginator("list_objects_v2")
        with translated_errors(f"listing {prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ListedObject(item["Key"], item["LastModified"].timestamp())

    def delete(self, key: str) -> None:
        with translated_errors(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def keys(self, prefix: str):
        with translated_errors(f"listing {prefix} in bucket {self.bucket}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def expire_after(self, prefix: str, days: int) -> None:
        """An S3 lifecycle rule (MinIO and AWS apply them; expiry runs about daily).

        Merged into the bucket's configuration by its ID: the operator's own rules are kept,
        and nothing is written when our rule is already there as it should be."""
        rule = {"ID": f"expire-{prefix.strip('/') or 'all'}", "Status": "Enabled", "Filter": {"Prefix": prefix},
                "Expiration": {"Days": days}}
        with translated_errors(f"lifecycle of bucket {self.bucket}"):
            try:
                current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
            except botocore.exceptions.ClientError as error:
                if error_code(error) != "NoSuchLifecycleConfiguration":
                    raise
                current = {}
            rules = current.get("Rules", [])
            ours = [existing for existing in rules if existing.get("ID") == rule["ID"]]
            if len(ours) == 1 and _same_rule(ours[0], rule):
                return
            others = [existing for existing in rules if existing.get("ID") != rule["ID"]]
            extra = {key: current[key] for key in ("TransitionDefaultMinimumObjectSize",) if key in current}
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": [*others, rule]}, **extra)

    def lifecycle_rules(self) -> list[dict]:
        with translated_errors(f"lifecycle of bucket {self.bucket}"):
            return self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]

    def delete_bucket(self) -> None:
        """Empty and remove the bucket (tests clean up after themselves)."""
        with translated_errors(f"deleting bucket {self.bucket}"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
            self.client.delete_bucket(Bucket=self.bucket)


def _same_rule(existing: dict, wanted: dict) -> bool:
    """Whether a stored rule already does what ours asks (servers may add empty fields)."""
    return all(existing.get(key) == value for key, value in wanted.items())
