"""boto3 clients built once, and botocore errors translated into ours."""

from __future__ import annotations

import contextlib
import functools

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
from prometheus_client import Counter

from core.errors import Conflict, NotFound, OutcomeUnknown, PermissionDenied, ThumbnailsError, TransientError

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

# A permission the IAM policy lacks (AWS answers a HEAD request with a bare 403, whose code
# botocore reports as "403"), and keys AWS does not accept at all.
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "Forbidden", "403"}
_UNKNOWN_KEY_CODES = {"InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                      "UnrecognizedClientException"}
# The IAM action that authorizes an operation, where it is not named after the operation
# (AWS's Service Authorization Reference, "Actions, resources, and condition keys" for S3 and SQS).
IAM_ACTION_OF = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
POLICY_FILE = "deploy/iam-policy.json"

# What S3 and SQS bill by: every HTTP request sent, retries included (botocore emits
# request-created once per attempt).
REQUESTS = Counter("thumbnails_storage_requests_total", "S3 and SQS requests sent, retries included, "
                   "by service and operation.", ["service", "operation"])


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
    if service == "s3":  # SigV4 for pre-signed URLs too (botocore pre-signs S3 with the deprecated SigV2 otherwise)
        config = config.merge(botocore.config.Config(signature_version="s3v4"))
    client = boto3.session.Session().client(service, config=config)
    client.meta.events.register("request-created", functools.partial(_count_request, service))
    return client


def _count_request(service: str, operation_name: str, **_) -> None:
    REQUESTS.labels(service, operation_name).inc()


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
        action = iam_action(error.operation_name)
        if code in _DENIED_CODES:
            # A bare 403 (HEAD) may also be keys refused outright: it does not say which.
            unless = ", or they are not accepted at all" if code == "403" else ""
            raise PermissionDenied(f"{what}: {code}: these credentials may not {action}{unless} "
                                   f"(the IAM policy must grant it, see {POLICY_FILE})", action) from error
        if code in _UNKNOWN_KEY_CODES:
            raise PermissionDenied(f"{what}: {code}: these credentials are not accepted at all "
                                   f"(check the keys, AWS_PROFILE or role)", action) from error
        if code in _CONFLICT_CODES:
            raise Conflict(f"{what}: changed by another writer") from error
        if code in _TRANSIENT_CODES or status >= 500:
            raise TransientError(f"{what}: {code or status}") from error
        raise ThumbnailsError(f"{what}: {code}: {error}") from error
    except botocore.exceptions.NoCredentialsError as error:
        raise PermissionDenied(f"{what}: {error} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                               f"AWS_PROFILE, or a role: see the README's Production on AWS)") from error
    except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError) as error:
        # The request went out and no answer came back: it may have been carried out.
        raise OutcomeUnknown(f"{what}: no answer: {error}") from error
    except botocore.exceptions.BotoCoreError as error:
        # Connection refused, connect timeouts: the request never arrived; worth trying again later.
        raise TransientError(f"{what}: {error}") from error


def iam_action(operation: str) -> str:
    """"HeadBucket" -> "s3:ListBucket": the IAM action an S3 or SQS operation needs."""
    qualified = f"{_service_of(operation)}:{operation}"
    return IAM_ACTION_OF.get(qualified, qualified)


@functools.cache
def _service_of(operation: str) -> str:
    """Which of S3 and SQS has this operation (their operation names do not overlap)."""
    session = botocore.session.get_session()
    for service in ("sqs", "s3"):
        if operation in session.get_service_model(service).operation_names:
            return service
    return "aws"
