"""Everything the service knows about image formats, in one place: which decoders may read client
data, which formats it writes and what each is called (request name, alias, Pillow name, content
type, file extension, default quality), and how to tell a whole file from a truncated one.
"""

from __future__ import annotations

from typing import BinaryIO

from PIL import features

# -- inputs --------------------------------------------------------------------------------------

# Only these Pillow decoders ever see client data (Pillow's advisories: open only what you need).
DECODERS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")
# The 415 answer (and a failed job's message) for anything else.
UNSUPPORTED_MESSAGE = f"not a supported image; accepted formats: {', '.join(DECODERS)}"
# The file names those formats usually have (uploads are judged by content, never by name).
INPUT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp")
# Decoders that Image.draft() can run at reduced scale (JPEG's DCT scaling: 1/2, 1/4, 1/8).
REDUCED_SCALE_DECODERS = ("JPEG",)
# How far from the end to look for a format's end marker (some files carry trailing bytes).
TRAILER_WINDOW_BYTES = 64 * 1024

# -- outputs -------------------------------------------------------------------------------------

AUTO = "auto"  # the historic default: PNG for an image with alpha, else JPEG
OUTPUT_FORMATS = (AUTO, "jpeg", "png", "webp", "avif")
ALIASES = {"jpg": "jpeg"}
PIL_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif"}
DEFAULT_QUALITY = {"jpeg": 85, "webp": 80, "avif": 60}  # PNG is lossless: no quality
ALPHA_FORMATS = ("png", "webp", "avif")
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
    if decoder == "JPEG":
        return b"\xff\xd9" in tail  # EOI
    if decoder == "PNG":
        return b"IEND" in tail
    if decoder == "GIF":
        return tail.rstrip(b"\x00").endswith(b";")  # the trailer byte
    if decoder == "WEBP":
        stream.seek(4)
        declared = int.from_bytes(stream.read(4), "little") + 8  # the RIFF chunk's size
        return size >= declared
    return decoder in DECODERS
