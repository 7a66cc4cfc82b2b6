"""Everything the service knows about image formats, in one place: which decoders may read client
data, which formats it writes and what each is called (request name, alias, Pillow name, content
type, file extension, default quality), and how to tell a whole file from a truncated one.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import pillow_heif
from PIL import features

# -- inputs --------------------------------------------------------------------------------------

# HEIC/HEIF through libheif (pillow-heif); its opener reads the header only, like Pillow's own.
pillow_heif.register_heif_opener()
# Only these Pillow decoders ever see client data (Pillow's advisories: open only what you need).
# AVIF needs a Pillow built with libavif (Pillow's wheels are). JPEG XL is not accepted: the one
# Pillow plugin (pillow-jxl-plugin) decodes the whole image inside Image.open, before its size can
# be checked against MAX_IMAGE_PIXELS (README, "Inputs").
DECODERS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF", *(("AVIF",) if features.check("avif") else ()))
# What an opened image's format may be: the JPEG decoder also opens MPO, a JPEG with more images
# after the first (cameras' multi-picture files), whose first image is used.
INPUT_FORMATS = ("JPEG", "MPO", *DECODERS[1:])
# The 415 answer (and a failed job's message) for anything else.
UNSUPPORTED_MESSAGE = f"not a supported image; accepted formats: {', '.join(INPUT_FORMATS)}"
# The file names those formats usually have (uploads are judged by content, never by name).
INPUT_EXTENSIONS = (".jpg", ".jpeg", ".mpo", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif",
                    ".avif")
# Decoders that Image.draft() can run at reduced scale (JPEG's DCT scaling: 1/2, 1/4, 1/8).
REDUCED_SCALE_DECODERS = ("JPEG", "MPO")
# Containers made of ISO base media file format boxes (no end marker: their boxes' sizes tell).
_ISOBMFF_DECODERS = ("HEIF", "AVIF")
# Inputs whose frames an animated output keeps.
ANIMATED_DECODERS = ("GIF", "WEBP")
# How far from the end to look for a format's end marker (some files carry trailing bytes).
TRAILER_WINDOW_BYTES = 64 * 1024

# -- outputs -------------------------------------------------------------------------------------

AUTO = "auto"  # the historic default: PNG for an image with alpha, else JPEG
OUTPUT_FORMATS = (AUTO, "jpeg", "png", "webp", "avif", "gif")
ALIASES = {"jpg": "jpeg"}
PIL_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF", "gif": "GIF"}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif",
                 "gif": "image/gif"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif", "gif": ".gif"}
DEFAULT_QUALITY = {"jpeg": 85, "webp": 80, "avif": 60}  # PNG and GIF are lossless: no quality
ALPHA_FORMATS = ("png", "webp", "avif", "gif")  # GIF: one transparent palette entry
# The formats an output with "animated": true may ask for.
ANIMATED_FORMATS = ("gif", "webp")
# The Pillow codec each output needs beyond the core ones (absent from some builds).
_CODECS = {"webp": "webp", "avif": "avif"}


def canonical(name: str) -> str:
    """The output format a request's name means (case-insensitive; 'jpg' is 'jpeg')."""
    lowered = name.lower()
    return ALIASES.get(lowered, lowered)


def supported_formats() -> tuple[str, ...]:
    """The output formats this Pillow can write (AVIF needs a Pillow built with libavif)."""
    return tuple(name for name in OUTPUT_FORMATS if name not in _CODECS or features.check(_CODECS[name]))


def auto_format(mode: str) -> str:
    """What the 'auto' output becomes for an image in this Pillow mode."""
    return "png" if mode in ("RGBA", "LA") else "jpeg"


def extension_for(content_type: str) -> str:
    """A file extension for an output's content type ('.img' for a type this service never writes)."""
    by_type = {content_type: EXTENSIONS[name] for name, content_type in CONTENT_TYPES.items()}
    return by_type.get(content_type, ".img")


def is_complete(stream: BinaryIO, decoder: str | None, size: int) -> bool:
    """False for a file cut short: it lacks its format's end marker. Costs no decoding.

    TIFF and BMP have no end marker to check (a short one fails later, when decoded)."""
    window = min(size, TRAILER_WINDOW_BYTES)
    stream.seek(size - window)
    tail = stream.read(window)
    if decoder in ("JPEG", "MPO"):
        return b"\xff\xd9" in tail  # EOI
    if decoder == "PNG":
        return b"IEND" in tail
    if decoder == "GIF":
        return tail.rstrip(b"\x00").endswith(b";")  # the trailer byte
    if decoder == "WEBP":
        stream.seek(4)
        declared = int.from_bytes(stream.read(4), "little") + 8  # the RIFF chunk's size
        return size >= declared
    if decoder in _ISOBMFF_DECODERS:
        return _boxes_complete(stream, size)
    return decoder in INPUT_FORMATS


def _boxes_complete(stream: BinaryIO, size: int) -> bool:
    """Whether every top-level ISO BMFF box (ftyp, meta, mdat...) ends within the file."""
    offset = 0
    while offset < size:
        stream.seek(offset)
        header = stream.read(16)
        if len(header) < 8:
            return False
        length = struct.unpack(">I", header[:4])[0]
        if length == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return False
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # the box runs to the end of the file
            return True
        if length < 8:
            return False
        offset += length
    return offset == size
