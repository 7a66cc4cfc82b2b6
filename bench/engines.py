"""The thumbnailers being compared, each bytes in -> encoded 100x100-box thumbnail out.

All three decode, fit the box keeping aspect, apply EXIF orientation and encode the
same way (JPEG q85, PNG for alpha), so the times compare like with like.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageOps

from core import formats
from core.render import fit, render

BOX = (100, 100)  # the default output's box
JPEG_QUALITY = formats.DEFAULT_QUALITY["jpeg"]


def ours(data: bytes) -> bytes:
    """The production entry point with the default output, as a job without options gets."""
    return render(data)[0].data


def naive_pillow(data: bytes) -> bytes:
    """What a first attempt does: decode everything, rotate it, then resize it."""
    image = Image.open(io.BytesIO(data))
    image.load()
    image = ImageOps.exif_transpose(image)
    image = image.resize(fit(image.size, BOX), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if formats.auto_format(image.mode) == "png":
        image.save(buffer, "PNG")
    else:
        image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def load_pyvips():
    """pyvips on one thread with its operation cache off (else repeats are cache hits)."""
    import pyvips

    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    return pyvips


def make_pyvips() -> Callable[[bytes], bytes] | None:
    try:
        pyvips = load_pyvips()
    except (ImportError, OSError):
        return None

    def thumbnail(data: bytes) -> bytes:
        image = pyvips.Image.thumbnail_buffer(data, BOX[0], height=BOX[1])  # autorotates
        return image.write_to_buffer(".png" if image.hasalpha() else f".jpg[Q={JPEG_QUALITY}]")

    return thumbnail


NAMES = ("ours", "pyvips", "naive")


def get(name: str) -> Callable[[bytes], bytes] | None:
    """One engine, importing only what it needs; None for pyvips when it is not installed."""
    return {"ours": lambda: ours, "pyvips": make_pyvips, "naive": lambda: naive_pillow}[name]()
