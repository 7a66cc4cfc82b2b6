"""Environment -> one frozen Settings object -> the constructors that need it.

Backends are chosen by two URLs: STORAGE_URL (`file:///abs/dir` or `s3://bucket`) and
QUEUE_URL (`sqlite:///abs/file.db`, `sqs://name`, an SQS queue URL or
`postgresql://user@host/db?queue=name`). With neither set, the embedded pair lives under DATA_DIR
(default `./data`). One set without the other is an error:
falling back to local storage for the other would split the api and thumbnailers apart.

Job records: JOBS_URL (`sqlite:///abs/jobs.db`, `postgresql://user@host/db`, or `objects` for
JSON documents in the object store beside each job's data, the design's original layout, which
keeps no queryable history). Unset: SQLite in DATA_DIR for the embedded pair, `objects` otherwise.

Endpoints, region, credentials and retries are not here: botocore reads its own
variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS, AWS_DEFAULT_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from core import priorities
from core.errors import ConfigurationError
from core.outputs import HARD_MAX_OUTPUTS

MIB = 1024 * 1024
DEFAULT_DATA_DIR = "data"
STORAGE_SCHEMES = ("file", "s3")
QUEUE_SCHEMES = ("sqlite", "sqs", "http", "https", "postgresql")
JOBS_SCHEMES = ("sqlite", "postgresql")
DEFAULT_POSTGRES_QUEUE = "thumbnails"
MIN_SECRET_CHARACTERS = 32


@dataclasses.dataclass(frozen=True)
class Settings:
    storage_url: str
    queue_url: str
    # Where job records live: a database URL, or "" for documents in the object store.
    jobs_url: str = ""
    s3_addressing_style: str = "auto"
    max_upload_bytes: int = 50 * MIB
    max_image_pixels: int = 100_000_000
    max_receives: int = 5
    visibility_timeout_seconds: int = 60
    api_keys: str = ""
    api_keys_file: str = ""
    allow_anonymous: bool = False
    retention_seconds: int = 7 * 24 * 3600
    storage_grace_seconds: int = 60
    # A job unfinished and unwritten this long has lost its message: the reconciler sends it
    # again (README, "Delivery guarantees", says why 15 minutes); sweeps run this often at most.
    reconcile_after_seconds: int = 900
    reconcile_interval_seconds: int = 300
    rate_limit_per_minute: int = 600
    metrics_port: int = 0
    data_dir: str = DEFAULT_DATA_DIR
    # None: one thumbnailer process per CPU core this process may run on.
    thumbnailer_processes: int | None = None
    # Jobs each thumbnailer process holds at once: one renders while the others read and write.
    thumbnailer_threads: int = 4
    max_outputs: int = 8
    max_output_side: int = 2048
    # The frames an animated output may keep (their pixels also count against max_image_pixels).
    max_animation_frames: int = 200
    # Priority queues; empty: derived from QUEUE_URL (name-high / name-low, or a sibling file).
    queue_url_high: str = ""
    queue_url_low: str = ""
    webhook_secret: str = ""
    webhook_timeout_seconds: float = 5.0
    webhook_attempts: int = 4
    webhook_backoff_seconds: float = 2.0
    # CIDR networks a callback may reach even though they are loopback/private (e.g. 127.0.0.1/32).
    webhook_allow_networks: tuple[str, ...] = ()
    # The api's public base URL (https://thumbs.example.com/): Location and job URLs are built
    # from it; empty: from the request's Host header (fine on a trusted network only).
    public_url: str = ""
    # Jobs an owner may have waiting (pending) at once; past it submissions get 429.
    max_waiting_jobs_per_owner: int = 1000
    # The key of signed output URLs; empty: one made once and kept in the object store (README, Security).
    url_signing_secret: str = ""
    # How long a finished job's signed URLs work when the submission does not say (capped by retention).
    signed_url_ttl_seconds: int = 7 * 24 * 3600
    # Who serves signed URLs: "api" (signed by URL_SIGNING_SECRET, served by the api) or "s3"
    # (S3 pre-signed GETs: the bytes go from the bucket to the client, never through the api).
    signed_urls: str = "api"
    # Buckets whose objects a job may name as its `source` (S3 storage only); empty: refused.
    source_buckets: tuple[str, ...] = ()
    # CIDR networks a source_url may reach although internal (tests: 127.0.0.1/32), as for webhooks.
    source_allow_networks: tuple[str, ...] = ()
    # The whole of one fetch of a source_url, redirects included (connect and each read less).
    source_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides) -> Settings:
        """Read every setting; explicit keyword arguments beat the environment."""
        storage_url, queue_url = _optional(environ, "STORAGE_URL"), _optional(environ, "QUEUE_URL")
        data_dir = _directory(environ, "DATA_DIR", DEFAULT_DATA_DIR)
        jobs_url = _optional(environ, "JOBS_URL")
        if not storage_url and not queue_url:
            storage_url, queue_url = embedded_urls(data_dir)
            jobs_url = jobs_url or f"sqlite://{(data_dir / 'jobs.db').as_posix()}"
        elif not storage_url:
            raise ConfigurationError(f"STORAGE_URL is not set, but QUEUE_URL is ({queue_url}); set both or neither")
        elif not queue_url:
            raise ConfigurationError(f"QUEUE_URL is not set, but STORAGE_URL is ({storage_url}); set both or neither")
        values = {
            "storage_url": storage_url,
            "queue_url": queue_url,
            "jobs_url": "" if jobs_url == "objects" else jobs_url,
            "s3_addressing_style": _choice(environ, "S3_ADDRESSING_STYLE", ("auto", "path", "virtual"), "auto"),
            "max_upload_bytes": _positive_int(environ, "MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            "max_image_pixels": _positive_int(environ, "MAX_IMAGE_PIXELS", cls.max_image_pixels),
            "max_receives": _positive_int(environ, "MAX_RECEIVES", cls.max_receives),
            "visibility_timeout_seconds": _positive_int(
                environ, "VISIBILITY_TIMEOUT_SECONDS", cls.visibility_timeout_seconds
            ),
            "api_keys": environ.get("API_KEYS", "").strip(),
            "api_keys_file": environ.get("API_KEYS_FILE", "").strip(),
            "allow_anonymous": _boolean(environ, "ALLOW_ANONYMOUS", False),
            "retention_seconds": _positive_int(environ, "RETENTION_SECONDS", cls.retention_seconds),
            "storage_grace_seconds": _positive_int(environ, "STORAGE_GRACE_SECONDS", cls.storage_grace_seconds),
            "reconcile_after_seconds": _positive_int(environ, "RECONCILE_AFTER_SECONDS", cls.reconcile_after_seconds),
            "reconcile_interval_seconds": _positive_int(environ, "RECONCILE_INTERVAL_SECONDS",
                                                        cls.reconcile_interval_seconds),
            "rate_limit_per_minute": _positive_int(environ, "RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute),
            "metrics_port": _positive_int(environ, "THUMBNAILER_METRICS_PORT", 0),
            "data_dir": str(data_dir),
            "thumbnailer_processes": _positive_int(environ, "THUMBNAILER_PROCESSES", cls.thumbnailer_processes),
            "thumbnailer_threads": _positive_int(environ, "THUMBNAILER_THREADS", cls.thumbnailer_threads),
            "max_outputs": _positive_int(environ, "MAX_OUTPUTS", cls.max_outputs),
            "max_output_side": _positive_int(environ, "MAX_OUTPUT_SIDE", cls.max_output_side),
            "max_animation_frames": _positive_int(environ, "MAX_ANIMATION_FRAMES", cls.max_animation_frames),
            "queue_url_high": _optional(environ, "QUEUE_URL_HIGH"),
            "queue_url_low": _optional(environ, "QUEUE_URL_LOW"),
            "webhook_secret": environ.get("WEBHOOK_SECRET", "").strip(),
            "webhook_timeout_seconds": _positive_float(environ, "WEBHOOK_TIMEOUT_SECONDS", cls.webhook_timeout_seconds),
            "webhook_attempts": _positive_int(environ, "WEBHOOK_ATTEMPTS", cls.webhook_attempts),
            "webhook_backoff_seconds": _positive_float(environ, "WEBHOOK_BACKOFF_SECONDS", cls.webhook_backoff_seconds),
            "webhook_allow_networks": _networks(environ, "WEBHOOK_ALLOW_NETWORKS"),
            "public_url": _public_url(environ, "PUBLIC_URL"),
            "max_waiting_jobs_per_owner": _positive_int(environ, "MAX_WAITING_JOBS_PER_OWNER",
                                                        cls.max_waiting_jobs_per_owner),
            "url_signing_secret": _secret(environ, "URL_SIGNING_SECRET"),
            "signed_url_ttl_seconds": _positive_int(environ, "SIGNED_URL_TTL_SECONDS", cls.signed_url_ttl_seconds),
            "signed_urls": _choice(environ, "SIGNED_URLS", ("api", "s3"), cls.signed_urls),
            "source_buckets": _buckets(environ, "SOURCE_BUCKETS"),
            "source_allow_networks": _networks(environ, "SOURCE_ALLOW_NETWORKS"),
            "source_timeout_seconds": _positive_float(environ, "SOURCE_TIMEOUT_SECONDS", cls.source_timeout_seconds),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]  # each value is parsed to its field's type above
        settings.validate()
        return settings

    def validate(self) -> None:
        """Parse every URL now, so a typo stops the process at start-up, naming the variable (each
        property raises ConfigurationError for a malformed value; the values themselves are unused)."""
        parsed: list[object] = [self.bucket if self.storage_backend == "s3" else self.storage_path, self.jobs_backend]
        if self.queue_backend == "sqs":
            parsed.append(self.queue_name)
        elif self.queue_backend == "postgresql":
            parsed.append(self.postgres_queue)
        else:
            parsed.append(self.queue_path)
        for priority in (priorities.HIGH, priorities.LOW):
            self.priority_queue_url(priority)
        if self.signed_urls == "s3" and self.storage_backend != "s3":
            raise ConfigurationError(f"SIGNED_URLS=s3 needs STORAGE_URL=s3://bucket, not {self.storage_url!r}; "
                                     "use SIGNED_URLS=api (the default) on the folder store")
        if self.max_outputs > HARD_MAX_OUTPUTS:
            raise ConfigurationError(f"MAX_OUTPUTS must be at most {HARD_MAX_OUTPUTS}, not {self.max_outputs}")

    def priority_queue_url(self, priority: str) -> str:
        """The queue for a priority: QUEUE_URL_HIGH / QUEUE_URL_LOW, else derived from QUEUE_URL."""
        if priority == priorities.NORMAL:
            return self.queue_url
        explicit = self.queue_url_high if priority == priorities.HIGH else self.queue_url_low
        name = f"QUEUE_URL_{priority.upper()}"
        if explicit:
            if urlparse(explicit).scheme != urlparse(self.queue_url).scheme and not (
                    {urlparse(explicit).scheme, urlparse(self.queue_url).scheme} <= {"sqs", "http", "https"}):
                raise ConfigurationError(f"{name} must use the same kind of queue as QUEUE_URL, not {explicit!r}")
            probe = dataclasses.replace(self, queue_url=explicit, queue_url_high="", queue_url_low="")
            try:
                probe.validate()
            except ConfigurationError as error:
                raise ConfigurationError(str(error).replace("QUEUE_URL", name, 1)) from None
            return explicit
        if self.queue_backend == "sqlite":
            path = self.queue_path
            return f"sqlite://{path.with_name(f'{path.stem}-{priority}{path.suffix}').as_posix()}"
        if self.queue_backend == "postgresql":
            return _with_query(self.queue_url, queue=f"{self.postgres_queue[1]}-{priority}")
        url = urlparse(self.queue_url)
        if url.scheme == "sqs":
            return f"sqs://{url.netloc}-{priority}"
        return self.queue_url.rstrip("/") + f"-{priority}"

    @property
    def storage_backend(self) -> str:
        """'file' or 's3'."""
        scheme = urlparse(self.storage_url).scheme
        if scheme not in STORAGE_SCHEMES:
            raise ConfigurationError(
                f"STORAGE_URL must look like s3://bucket-name or file:///absolute/folder, not {self.storage_url!r}"
            )
        return scheme

    @property
    def queue_backend(self) -> str:
        """'sqlite', 'sqs' or 'postgresql'."""
        scheme = urlparse(self.queue_url).scheme
        if scheme not in QUEUE_SCHEMES:
            raise ConfigurationError(
                f"QUEUE_URL must look like sqs://queue-name, an SQS queue URL, sqlite:///absolute/file.db "
                f"or postgresql://user@host/database?queue=name, not {self.queue_url!r}"
            )
        return scheme if scheme in ("sqlite", "postgresql") else "sqs"

    @property
    def jobs_backend(self) -> str:
        """'objects' (documents in the object store), 'sqlite' or 'postgresql'."""
        if not self.jobs_url:
            return "objects"
        scheme = urlparse(self.jobs_url).scheme
        if scheme == "sqlite":
            _local_path(self.jobs_url, "sqlite", "JOBS_URL", "sqlite:///absolute/jobs.db")
        elif scheme != "postgresql" or not urlparse(self.jobs_url).netloc:
            raise ConfigurationError(f"JOBS_URL must look like sqlite:///absolute/jobs.db, "
                                     f"postgresql://user@host/database or objects, not {self.jobs_url!r}")
        return scheme

    @property
    def postgres_queue(self) -> tuple[str, str]:
        """(database URL, queue name) of a postgresql://...?queue=name queue."""
        url = urlparse(self.queue_url)
        query = parse_qs(url.query)
        names = query.pop("queue", [DEFAULT_POSTGRES_QUEUE])
        if url.scheme != "postgresql" or not url.netloc or len(names) != 1 or not names[0].strip() \
                or len(names[0]) > 80:
            raise ConfigurationError(
                f"QUEUE_URL must look like postgresql://user@host/database?queue=name, not {self.queue_url!r}")
        return url._replace(query=urlencode(query, doseq=True)).geturl(), names[0]

    @property
    def processes(self) -> int:
        """How many thumbnailer processes to run: the setting, else one per CPU of the cgroup quota (or core)."""
        if self.thumbnailer_processes is not None:
            return self.thumbnailer_processes
        from core.cpus import available_cpus

        return available_cpus()

    @property
    def bucket(self) -> str:
        url = urlparse(self.storage_url)
        if url.scheme != "s3" or not url.netloc or url.path.strip("/"):
            raise ConfigurationError(f"STORAGE_URL must look like s3://bucket-name, not {self.storage_url!r}")
        return url.netloc

    @property
    def storage_path(self) -> Path:
        """The folder of a file:///absolute/folder store."""
        return _local_path(self.storage_url, "file", "STORAGE_URL", "file:///absolute/folder")

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

    @property
    def queue_path(self) -> Path:
        """The database file of a sqlite:///absolute/file.db queue."""
        return _local_path(self.queue_url, "sqlite", "QUEUE_URL", "sqlite:///absolute/file.db")


def embedded_urls(data_dir: Path) -> tuple[str, str]:
    """The embedded pair under one data folder: objects in a folder, the queue in SQLite."""
    return (data_dir / "objects").as_uri(), f"sqlite://{(data_dir / 'queue.db').as_posix()}"


def _with_query(url: str, **values: str) -> str:
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    query.update({key: [value] for key, value in values.items()})
    return parsed._replace(query=urlencode(query, doseq=True)).geturl()


def _local_path(value: str, scheme: str, name: str, example: str) -> Path:
    url = urlparse(value)
    if url.scheme != scheme or url.netloc not in ("", "localhost") or not url.path.startswith("/") \
            or url.path.rstrip("/") == "" or url.query or url.fragment:
        raise ConfigurationError(f"{name} must look like {example}, not {value!r}")
    return Path(url.path)


def _optional(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _directory(environ: Mapping[str, str], name: str, default: str) -> Path:
    """A folder, relative ones taken from the current directory."""
    return Path(os.path.abspath(environ.get(name, "").strip() or default))


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


def _positive_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be positive, not {raw}")
    return value


def _networks(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated CIDR networks (a bare address means just that one)."""
    raw = [part.strip() for part in environ.get(name, "").split(",") if part.strip()]
    for part in raw:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigurationError(f"{name} must list CIDR networks like 127.0.0.1/32, not {part!r}") from None
    return tuple(raw)


def _buckets(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated S3 bucket names."""
    from core.sources import is_bucket_name

    raw = tuple(part.strip() for part in environ.get(name, "").split(",") if part.strip())
    for part in raw:
        if not is_bucket_name(part):
            raise ConfigurationError(f"{name} must list S3 bucket names like my-images, not {part!r}")
    return raw


def _public_url(environ: Mapping[str, str], name: str) -> str:
    """An http(s) base URL with a host and no query or fragment; kept with one trailing slash."""
    raw = environ.get(name, "").strip()
    if not raw:
        return ""
    url = urlparse(raw)
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise ConfigurationError(f"{name} must look like https://thumbs.example.com/, not {raw!r}")
    return raw.rstrip("/") + "/"


def _secret(environ: Mapping[str, str], name: str) -> str:
    """A shared secret: empty, or long enough not to be guessed."""
    raw = environ.get(name, "").strip()
    if raw and len(raw) < MIN_SECRET_CHARACTERS:
        raise ConfigurationError(f"{name} must be at least {MIN_SECRET_CHARACTERS} characters "
                                 f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return raw


def _boolean(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = environ.get(name, "").strip() or default
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value
