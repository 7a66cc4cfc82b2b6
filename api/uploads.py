"""Reading an upload from a request and checking, cheaply, that it is a whole supported image."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import BinaryIO

from flask import Request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from core.render import ALLOWED_FORMATS, open_image

FIELD = "image"
# Uploads larger than this spill from memory to a temporary file.
SPOOL_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024
# How far from the end to look for a format's end marker (some files carry trailing bytes).
TRAILER_WINDOW_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Upload:
    stream: BinaryIO
    size: int
    format: str
    content_type: str
    width: int
    height: int


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
    if not _has_end_marker(stream, image.format, size):
        raise BadRequest(f"the {image.format} file is truncated")
    stream.seek(0)
    return Upload(stream, size, image.format, image.get_format_mimetype(), image.width, image.height)


def _body(request: Request, max_bytes: int) -> BinaryIO:
    """The uploaded file: a multipart field `image`, or a raw body with an image type."""
    if request.mimetype == "multipart/form-data":
        files = request.files.getlist(FIELD)
        if not files:
            raise BadRequest(f"send the image as the multipart file field '{FIELD}'")
        if len(files) > 1:
            raise BadRequest(f"send exactly one file in the field '{FIELD}', not {len(files)}")
        return files[0].stream
    if request.mimetype.startswith("image/") or request.mimetype == "application/octet-stream":
        return _spool(request.stream, max_bytes)
    raise UnsupportedMediaType(
        f"send multipart/form-data with a file field '{FIELD}', or a raw body with an image Content-Type"
    )


def _spool(source: BinaryIO, max_bytes: int) -> BinaryIO:
    """Copy a raw body into a bounded buffer that spills to disk, refusing it past max_bytes."""
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    copied = 0
    while chunk := source.read(CHUNK_BYTES):
        copied += len(chunk)
        if copied > max_bytes:
            spooled.close()
            raise RequestEntityTooLarge(f"the upload is larger than the limit of {max_bytes} bytes")
        spooled.write(chunk)
    return spooled


def _has_end_marker(stream: BinaryIO, image_format: str, size: int) -> bool:
    """A truncated upload lacks its format's end marker; checking it costs no decoding."""
    window = min(size, TRAILER_WINDOW_BYTES)
    stream.seek(size - window)
    tail = stream.read(window)
    if image_format == "JPEG":
        return b"\xff\xd9" in tail
    if image_format == "PNG":
        return b"IEND" in tail
    if image_format == "GIF":
        return tail.rstrip(b"\x00").endswith(b";")
    if image_format == "WEBP":
        stream.seek(4)
        declared = int.from_bytes(stream.read(4), "little") + 8
        return size >= declared
    return image_format in ALLOWED_FORMATS  # TIFF and BMP have no end marker to check

