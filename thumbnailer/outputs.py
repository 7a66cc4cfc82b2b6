"""Several outputs from one decode: sizes, fit modes (contain, cover, pad) and formats.

The source is decoded once, to the largest size any output needs (never above the source's
own size); each output is then cut and resized from that intermediate and encoded.
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageOps, features

from storage.outputs import FORMATS, OutputSpec
from thumbnailer.render import (DEFAULT_MAX_PIXELS, JPEG_QUALITY, REDUCING_GAP, Thumbnail, _encode,
                                decode_scaled, fit)

DEFAULT_QUALITY = {"jpeg": JPEG_QUALITY, "webp": 80, "avif": 60}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
_ALPHA_FORMATS = ("png", "webp", "avif")
_WHITE = (255, 255, 255, 255)


def supported_formats() -> tuple[str, ...]:
    """The output formats this Pillow can write (AVIF needs a Pillow built with libavif)."""
    return tuple(name for name in FORMATS if name != "avif" or features.check("avif"))


def render_outputs(data: bytes, specs: tuple[OutputSpec, ...],
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Thumbnail]:
    """Every output of a job, in order, from a single decode of `data`."""
    intermediate, upright = decode_scaled(data, max_pixels, lambda size: _intermediate_size(size, specs))
    return [_encode_as(_derive(intermediate, upright, spec), spec) for spec in specs]


def _needed_size(size: tuple[int, int], spec: OutputSpec) -> tuple[int, int]:
    """The source-scaled size this output is made from (cover fills the box, the others fit it)."""
    if spec.fit != "cover":
        return fit(size, (spec.width, spec.height))
    scale = min(1.0, max(spec.width / size[0], spec.height / size[1]))
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _intermediate_size(size: tuple[int, int], specs: tuple[OutputSpec, ...]) -> tuple[int, int]:
    """The largest needed size; for a single output exactly its own (so the default is unchanged)."""
    return max((_needed_size(size, spec) for spec in specs), key=lambda needed: needed[0] * needed[1])


def _derive(image: Image.Image, upright: tuple[int, int], spec: OutputSpec) -> Image.Image:
    box = (spec.width, spec.height)
    if spec.fit == "cover":
        if image.size == box:
            return image
        return ImageOps.fit(image, box, Image.Resampling.LANCZOS)
    fitted = _resized(image, fit(upright, box))
    if spec.fit == "contain":
        return fitted
    background = _background(spec)
    mode = "RGBA" if background[3] < 255 or fitted.mode in ("RGBA", "LA") else "RGB"
    canvas = Image.new(mode, box, background if mode == "RGBA" else background[:3])
    layer = fitted.convert("RGBA")
    offset = ((box[0] - fitted.width) // 2, (box[1] - fitted.height) // 2)
    canvas.paste(layer, offset, layer)
    return canvas


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _background(spec: OutputSpec) -> tuple[int, int, int, int]:
    """The pad colour: as asked, else transparent where the format has alpha, else white."""
    value = spec.background
    if value is None:
        return (0, 0, 0, 0) if spec.format in _ALPHA_FORMATS else _WHITE
    if value == "transparent":
        return 0, 0, 0, 0
    digits = value.lstrip("#")
    channels = tuple(int(digits[index:index + 2], 16) for index in range(0, len(digits), 2))
    return channels if len(channels) == 4 else (*channels, 255)


def _encode_as(image: Image.Image, spec: OutputSpec) -> Thumbnail:
    if spec.format == "auto":
        return _encode(image)  # the historic default: PNG with alpha, else JPEG q85
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if spec.format == "jpeg":
        image = _flattened(image) if has_alpha else image.convert("L" if image.mode == "L" else "RGB")
    elif spec.format != "png":
        image = image.convert("RGBA" if has_alpha else "RGB")
    options = {"quality": spec.quality or DEFAULT_QUALITY[spec.format]} if spec.format != "png" else {}
    buffer = io.BytesIO()
    image.save(buffer, spec.format.upper(), **options)
    return Thumbnail(buffer.getvalue(), CONTENT_TYPES[spec.format], image.width, image.height)


def _flattened(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite onto white rather than showing what lies under transparency."""
    layer = image.convert("RGBA")
    canvas = Image.new("RGB", layer.size, _WHITE[:3])
    canvas.paste(layer, (0, 0), layer)
    return canvas
