"""The project's own errors: callers never see botocore, sqlite or Pillow exceptions."""

from http import HTTPStatus


class ThumbnailsError(Exception):
    """Base of every error this project raises on purpose."""


class NotFound(ThumbnailsError):
    """The object, job or queue asked for does not exist."""


class TransientError(ThumbnailsError):
    """A dependency is unreachable or overloaded; the same call may work later."""


class OutcomeUnknown(TransientError):
    """A request was sent but no answer came (a read timeout, a connection closed mid-call): it
    may or may not have taken effect. A send in this state is not a failure: the message may be
    queued, and the reconciler ends the job if it was not."""


class PermissionDenied(TransientError):
    """The cloud refused these credentials an action (IAM): `action` names it, e.g. s3:PutObject.

    Transient for requests and jobs, which answer 503 or wait (no job is lost while an operator
    fixes the policy); fatal at start-up, so that a policy lacking an action never goes live."""

    def __init__(self, message: str, action: str = ""):
        super().__init__(message)
        self.action = action


class Conflict(ThumbnailsError):
    """A conditional write lost: someone changed the object since it was read; read it again."""


class HistoryUnavailable(ThumbnailsError):
    """The configured job store keeps no queryable history (job documents in the object store)."""


class InvalidJob(ThumbnailsError):
    """A job document or transition breaks the job model's rules."""


class ConfigurationError(ThumbnailsError):
    """A setting is missing or malformed; the message names the variable."""


# Client-supplied text quoted in an error is cut to this many characters (a 10 MB value must
# not become a 50 MB answer and log line).
MAX_QUOTED_CHARS = 40
MAX_OPTION_MESSAGE_CHARS = 300


def quoted(value: object) -> str:
    """A short repr of a client's value, for error messages."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "…"


class InvalidOption(ThumbnailsError):
    """A submission option (output, priority, callback_url) is malformed; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        field, message = field[:MAX_QUOTED_CHARS], message[:MAX_OPTION_MESSAGE_CHARS]
        super().__init__(f"{field}: {message}")
        self.field = field


class CallbackRefused(ThumbnailsError):
    """The callback URL is malformed or points at an address the service must not reach."""


class InvalidKey(ThumbnailsError):
    """An object key that could name a path outside the store (empty, `..`, absolute, odd characters)."""


class RenderError(ThumbnailsError):
    """The input can never become a thumbnail; the job fails with `code`."""

    code = HTTPStatus.UNPROCESSABLE_ENTITY


class UnsupportedImage(RenderError):
    """Not an image, or a format outside the allow-list."""

    code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class CorruptImage(RenderError):
    """A supported format whose data is truncated or broken."""

    code = HTTPStatus.UNPROCESSABLE_ENTITY


class ImageTooLarge(RenderError):
    """More pixels than the configured cap: a possible decompression bomb."""

    code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class SourceError(ThumbnailsError):
    """A job's source (its source_url, or an object named by `source`) cannot be read; the job
    fails with `code` and a message that starts with `reason`, a word a program can match."""

    code = HTTPStatus.UNPROCESSABLE_ENTITY
    reason = "source_unreachable"

    def __str__(self) -> str:
        return f"{self.reason}: {super().__str__()}"


class SourceTooLarge(SourceError):
    """The source is larger than MAX_UPLOAD_BYTES (declared or as read)."""

    code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    reason = "source_too_large"


class SourceUnavailable(SourceError):
    """Perhaps only for now (a timeout, a refused connection, a 5xx or 429 answer): the job is
    tried again later, and fails like a SourceError once its deliveries are used up."""
