"""The one render function: image bytes in, every output of a job out, from a single decode; no I/O.

The source is decoded once, to the largest size any output needs (never above the source's
own size); each output is then cut and resized from that intermediate and encoded.
"""

from __future__ import annotations

import dataclasses
import io
import math
import struct
import warnings
from typing import BinaryIO

from PIL import ExifTags, Image, ImageOps, features

from core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from core.outputs import DEFAULT_OUTPUTS, FORMATS, OutputSpec

# Only these decoders ever see client data (Pillow's advisories: open only what you need).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")
DEFAULT_MAX_PIXELS = 100_000_000
JPEG_QUALITY = 85
# Shrink by whole factors (JPEG DCT scaling, Image.reduce) while staying at least
# this many times the target size, then finish with LANCZOS.
REDUCING_GAP = 3.0
DEFAULT_QUALITY = {"jpeg": JPEG_QUALITY, "webp": 80, "avif": 60}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
_ALPHA_FORMATS = ("png", "webp", "avif")
_WHITE = (255, 255, 255, 255)
# Formats that Image.draft() can decode at reduced scale, so they must not be loaded early.
_DRAFT_FORMATS = ("JPEG",)

# Errors Pillow raises on broken data, besides its own DecompressionBombError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error, TypeError)


@dataclasses.dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str
    width: int
    height: int


def supported_formats() -> tuple[str, ...]:
    """The output formats this Pillow can write (AVIF needs a Pillow built with libavif)."""
    return tuple(name for name in FORMATS if name != "avif" or features.check("avif"))


def render(data: bytes, specs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS,
           max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Thumbnail]:
    """Every output of a job, in order, from a single decode of `data`."""
    intermediate, upright = decode_scaled(data, max_pixels, lambda size: _intermediate_size(size, specs))
    return [_encode_as(_derive(intermediate, upright, spec), spec) for spec in specs]


def _needed_size(size: tuple[int, int], spec: OutputSpec) -> tuple[int, int]:
    """The source-scaled size this output is made from (cover fills the box, the others fit it)."""
    if spec.fit != "cover":
        return fit(size, (spec.width, spec.height), spec.upscale)
    scale = max(spec.width / size[0], spec.height / size[1])
    scale = scale if spec.upscale else min(1.0, scale)
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _intermediate_size(size: tuple[int, int], specs: tuple[OutputSpec, ...]) -> tuple[int, int]:
    """The largest needed size; for a single output exactly its own (so the default is unchanged)."""
    return max((_needed_size(size, spec) for spec in specs), key=lambda needed: needed[0] * needed[1])


def _derive(image: Image.Image, upright: tuple[int, int], spec: OutputSpec) -> Image.Image:
    box = (spec.width, spec.height)
    if spec.fit == "cover":
        box = box if spec.upscale else _within(box, upright)
        if image.size == box:
            return image
        return ImageOps.fit(image, box, Image.Resampling.LANCZOS)
    fitted = _resized(image, fit(upright, box, spec.upscale))
    if spec.fit == "contain":
        return fitted
    background = _background(spec)
    mode = "RGBA" if background[3] < 255 or fitted.mode in ("RGBA", "LA") else "RGB"
    canvas = Image.new(mode, box, background if mode == "RGBA" else background[:3])
    layer = fitted.convert("RGBA")
    offset = ((box[0] - fitted.width) // 2, (box[1] - fitted.height) // 2)
    canvas.paste(layer, offset, layer)
    return canvas


def _within(box: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """A cover box no larger than the source: the box's shape, shrunk until it fits in size."""
    scale = min(1.0, size[0] / box[0], size[1] / box[1])
    return max(1, round(box[0] * scale)), max(1, round(box[1] * scale))


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


def open_image(data: bytes | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open lazily (header only) and refuse a bad format or size before any pixel is decoded."""
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on corrupt EXIF: noise in our logs
            image = Image.open(source, formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"image has too many pixels (limit {max_pixels})") from error
    except Image.UnidentifiedImageError as error:
        raise UnsupportedImage(f"not a supported image; accepted formats: {', '.join(ALLOWED_FORMATS)}") from error
    except _DECODE_ERRORS as error:
        raise CorruptImage(f"cannot read image header: {error}") from error
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage("image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    return image


def decode_scaled(data: bytes, max_pixels: int, target_of) -> tuple[Image.Image, tuple[int, int]]:
    """Decode once, straight to `target_of(upright size)`; return it upright, and the upright full size.

    target_of maps the full image's size, EXIF orientation applied, to the wanted size in the
    same orientation; the decode works in the stored orientation and turns the small result.
    """
    image = open_image(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if image.format not in _DRAFT_FORMATS:
                # Decode now, so that a broken stream raises here: reading a PNG's EXIF decodes
                # the whole image, and _orientation ignores errors (a corrupt PNG would otherwise
                # become a blank thumbnail). JPEGs wait, to be decoded at reduced scale.
                image.load()
            orientation = _orientation(image)
            turned = orientation in _TRANSPOSING
            upright = (image.height, image.width) if turned else image.size
            wanted = target_of(upright)
            target = (wanted[1], wanted[0]) if turned else wanted
            # A JPEG decodes at the smallest DCT scale still REDUCING_GAP x the fitted size (not
            # the box: a wide photo would decode at twice the scale it needs); a no-op otherwise.
            image.draft(None, (int(target[0] * REDUCING_GAP), int(target[1] * REDUCING_GAP)))
            image = _normalise_mode(image)
            if image.size != target:
                # reduce() by a whole factor, then LANCZOS to exactly the fitted size.
                image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
            image.load()  # a small image needs no resize: decode it here, where errors are caught
            image = _to_output_mode(image)
            # Outputs carry no metadata of the source (comment, ICC profile, EXIF, XMP).
            image.info = {key: value for key, value in image.info.items() if key == "transparency"}
            method = _TRANSPOSE_METHODS.get(orientation)
            return (image.transpose(method) if method is not None else image), upright
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(str(error)) from error
    except _DECODE_ERRORS as error:
        raise CorruptImage(f"cannot decode image: {error}") from error


def fit(size: tuple[int, int], box: tuple[int, int], upscale: bool = False) -> tuple[int, int]:
    """The largest size inside box with size's aspect ratio; never larger than size unless upscale."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    if scale == 1 or (scale > 1 and not upscale):
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


_TRANSPOSE_METHODS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TRANSPOSING = {5, 6, 7, 8}


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, or 1 when EXIF is missing or unreadable (bogus EXIF is common)."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE_METHODS else 1


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Give the resampler a mode it filters well (palette and 16-bit images otherwise suffer)."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode == "F":
        return image
    if mode.startswith("I"):
        # 16/32-bit greyscale: resample in 32-bit float, scale to 8 bits afterwards. Convert
        # directly where Pillow can: a 32-bit integer copy of the full image costs 4 bytes a pixel.
        try:
            return image.convert("F")
        except ValueError:
            return image.convert("I").convert("F")
    if "A" in mode or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _to_output_mode(image: Image.Image) -> Image.Image:
    if image.mode == "F":
        extrema = image.getextrema()
        scale = 255.0 / 65535.0 if extrema[1] > 255 else 1.0
        return image.point(lambda value: value * scale).convert("L")
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image


def _encode(image: Image.Image) -> Thumbnail:
    """Images with alpha become PNG; opaque ones JPEG. Metadata is dropped."""
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA"):
        image.save(buffer, "PNG")
        content_type = "image/png"
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
        content_type = "image/jpeg"
    return Thumbnail(buffer.getvalue(), content_type, image.width, image.height)
