"""boto3 clients built once, and botocore errors translated into ours."""

from __future__ import annotations

import contextlib

import boto3
import botocore.config
import botocore.exceptions

from core.errors import Conflict, NotFound, OutcomeUnknown, ThumbnailsError, TransientError

# Retries (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE), endpoints and region are left to
# botocore, which reads them from the environment; only what it cannot read is set.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60  # above SQS's 20 s long poll
MAX_POOL_CONNECTIONS = 20

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound", "AWS.SimpleQueueService.NonExistentQueue",
                    "QueueDoesNotExist"}
# A conditional write (If-Match / If-None-Match) that lost to another writer.
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable",
                    "InternalError", "RequestThrottled", "XMinioServerNotInitialized"}


def make_client(service: str, addressing_style: str = "auto"):
    config = botocore.config.Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=MAX_POOL_CONNECTIONS,
        # No SHA-256 of each body for the signature: over HTTPS (AWS) botocore already skips it,
        # and over plain HTTP (a local MinIO) it costs a hash on each side per upload. The body
        # stays protected by the CRC32 checksum header, which is signed.
        s3={"addressing_style": addressing_style, "payload_signing_enabled": False},
    )
    return boto3.session.Session().client(service, config=config)


def error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def translated_errors(what: str):
    """Raise NotFound / Conflict / TransientError / ThumbnailsError instead of botocore's errors."""
    try:
        yield
    except botocore.exceptions.ClientError as error:
        code = error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_FOUND_CODES:
            raise NotFound(f"{what}: not found") from error
        if code in _CONFLICT_CODES:
            raise Conflict(f"{what}: changed by another writer") from error
        if code in _TRANSIENT_CODES or status >= 500:
            raise TransientError(f"{what}: {code or status}") from error
        raise ThumbnailsError(f"{what}: {code}: {error}") from error
    except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError) as error:
        # The request went out and no answer came back: it may have been carried out.
        raise OutcomeUnknown(f"{what}: no answer: {error}") from error
    except botocore.exceptions.BotoCoreError as error:
        # Connection refused, connect timeouts: the request never arrived; worth trying again later.
        raise TransientError(f"{what}: {error}") from error
