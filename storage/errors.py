"""The project's own errors: callers never see botocore or sqlite exceptions."""


class ThumbnailsError(Exception):
    """Base of every error this project raises on purpose."""


class NotFound(ThumbnailsError):
    """The object, job or queue asked for does not exist."""


class TransientError(ThumbnailsError):
    """A dependency is unreachable or overloaded; the same call may work later."""


class Conflict(ThumbnailsError):
    """A conditional write lost: someone changed the object since it was read; read it again."""


class InvalidJob(ThumbnailsError):
    """A job document or transition breaks the job model's rules."""


class ConfigurationError(ThumbnailsError):
    """A setting is missing or malformed; the message names the variable."""


class InvalidKey(ThumbnailsError):
    """An object key that could name a path outside the store (empty, `..`, absolute, odd characters)."""
