"""Why an image cannot be rendered: permanent failures, each with an HTTP-like code."""

from http import HTTPStatus

from storage.errors import ThumbnailsError


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
