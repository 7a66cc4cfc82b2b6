"""Environment -> one frozen Settings object -> the constructors that need it.

Endpoints, region, credentials and retries are not here: botocore reads its own
variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS, AWS_DEFAULT_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from urllib.parse import urlparse

from storage.errors import ConfigurationError

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Settings:
    storage_url: str
    queue_url: str
    s3_addressing_style: str = "auto"
    max_upload_bytes: int = 50 * MIB
    max_image_pixels: int = 100_000_000
    max_receives: int = 5
    visibility_timeout_seconds: int = 60
    # None: one thumbnailer process per CPU core this process may run on.
    thumbnailer_processes: int | None = None
    # Jobs each thumbnailer process holds at once: one renders while the others read and write.
    thumbnailer_threads: int = 4

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides) -> Settings:
        """Read every setting; explicit keyword arguments beat the environment."""
        values = {
            "storage_url": _required(environ, "STORAGE_URL"),
            "queue_url": _required(environ, "QUEUE_URL"),
            "s3_addressing_style": _choice(environ, "S3_ADDRESSING_STYLE", ("auto", "path", "virtual"), "auto"),
            "max_upload_bytes": _positive_int(environ, "MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            "max_image_pixels": _positive_int(environ, "MAX_IMAGE_PIXELS", cls.max_image_pixels),
            "max_receives": _positive_int(environ, "MAX_RECEIVES", cls.max_receives),
            "visibility_timeout_seconds": _positive_int(
                environ, "VISIBILITY_TIMEOUT_SECONDS", cls.visibility_timeout_seconds
            ),
            "thumbnailer_processes": _positive_int(environ, "THUMBNAILER_PROCESSES", cls.thumbnailer_processes),
            "thumbnailer_threads": _positive_int(environ, "THUMBNAILER_THREADS", cls.thumbnailer_threads),
        }
        values.update(overrides)
        settings = cls(**values)
        settings.bucket  # validate both URLs at start-up
        settings.queue_name
        return settings

    @property
    def processes(self) -> int:
        """How many thumbnailer processes to run: the setting, else one per usable core."""
        if self.thumbnailer_processes is not None:
            return self.thumbnailer_processes
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    @property
    def bucket(self) -> str:
        url = urlparse(self.storage_url)
        if url.scheme != "s3" or not url.netloc or url.path.strip("/"):
            raise ConfigurationError(f"STORAGE_URL must look like s3://bucket-name, not {self.storage_url!r}")
        return url.netloc

    @property
    def queue_name(self) -> str:
        """The queue's name, from sqs://name or a full SQS queue URL."""
        url = urlparse(self.queue_url)
        if url.scheme == "sqs" and url.netloc and not url.path.strip("/"):
            return url.netloc
        if url.scheme in ("http", "https") and url.netloc and url.path.strip("/"):
            return url.path.rstrip("/").rsplit("/", 1)[-1]
        raise ConfigurationError(
            f"QUEUE_URL must look like sqs://queue-name or an SQS queue URL, not {self.queue_url!r}"
        )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {value}")
    return value


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = environ.get(name, "").strip() or default
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value
