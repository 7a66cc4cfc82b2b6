"""Reading an upload from a request and checking, cheaply, that it is a whole supported image."""

from __future__ import annotations

import dataclasses
import os
from typing import BinaryIO, cast

from flask import Request
from PIL import Image
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from api.forms import CHUNK_BYTES, Spool
from core import formats
from core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from core.render import open_image

FIELD = "image"


@dataclasses.dataclass(frozen=True)
class Upload:
    stream: BinaryIO
    size: int
    format: str
    content_type: str
    width: int
    height: int
    crc32: int | None  # taken while the body was spooled (api.forms.Spool)


def read_upload(request: Request, max_bytes: int, max_pixels: int) -> Upload:
    stream = _body(request, max_bytes)
    size = stream.seek(0, os.SEEK_END)
    if size == 0:
        raise BadRequest("the upload is empty")
    if size > max_bytes:
        raise RequestEntityTooLarge(f"the upload is {size} bytes; the limit is {max_bytes}")
    stream.seek(0)
    try:
        image = open_image(stream, max_pixels)
    except UnsupportedImage as error:
        raise UnsupportedMediaType(str(error)) from error
    except ImageTooLarge as error:
        raise RequestEntityTooLarge(str(error)) from error
    except CorruptImage as error:
        raise BadRequest(str(error)) from error
    if not formats.is_complete(stream, image.format, size):
        raise BadRequest(f"the {image.format} file is truncated")
    stream.seek(0)
    content_type = Image.MIME.get(image.format or "", "application/octet-stream")
    return Upload(stream, size, image.format or "", content_type, image.width, image.height,
                  getattr(stream, "crc32", None))


def _body(request: Request, max_bytes: int) -> BinaryIO:
    """The uploaded file: a multipart field `image`, or a raw body with an image type."""
    if request.mimetype == "multipart/form-data":
        files = request.files.getlist(FIELD)
        if not files:
            raise BadRequest(f"send the image as the multipart file field '{FIELD}'")
        if len(files) > 1:
            raise BadRequest(f"send exactly one file in the field '{FIELD}', not {len(files)}")
        return cast(BinaryIO, files[0].stream)  # werkzeug types it IO[bytes]
    if request.mimetype.startswith("image/") or request.mimetype == "application/octet-stream":
        return _spool(cast(BinaryIO, request.stream), max_bytes)
    raise UnsupportedMediaType(
        f"send multipart/form-data with a file field '{FIELD}', a raw body with an image Content-Type, "
        "or a JSON body naming the image's source_url or source"
    )


def _spool(source: BinaryIO, max_bytes: int) -> BinaryIO:
    """Copy a raw body into a bounded buffer that spills to disk, refusing it past max_bytes."""
    spooled = Spool()
    copied = 0
    while chunk := source.read(CHUNK_BYTES):
        copied += len(chunk)
        if copied > max_bytes:
            spooled.close()
            raise RequestEntityTooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
        spooled.write(chunk)
    return cast(BinaryIO, spooled)  # a SpooledTemporaryFile reads and seeks like any binary file

