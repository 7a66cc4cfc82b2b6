"""The shared kernel, free of I/O: the job model, output specs and priorities, image formats and
the one render function, the callback-URL policy, keys, settings, logs and errors.

The api and the thumbnailer both build on it (and on `storage/`); they never import each other.
"""

from core.errors import (
                         ConfigurationError,
                         Conflict,
                         CorruptImage,
                         ImageTooLarge,
                         InvalidJob,
                         InvalidKey,
                         InvalidOption,
                         NotFound,
                         PermissionDenied,
                         RenderError,
                         ThumbnailsError,
                         TransientError,
                         UnsupportedImage,
)
from core.job import Job, JobStatus
from core.settings import Settings

__all__ = [
    "ConfigurationError", "Conflict", "CorruptImage", "ImageTooLarge", "InvalidJob", "InvalidKey", "InvalidOption",
    "Job", "JobStatus", "NotFound", "PermissionDenied", "RenderError", "Settings", "ThumbnailsError", "TransientError",
    "UnsupportedImage",
]
