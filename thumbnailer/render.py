"""Pure image code: bytes in, thumbnail bytes out, no I/O."""

from __future__ import annotations

import dataclasses
import io
import struct
import warnings
from typing import BinaryIO

from PIL import ExifTags, Image

from thumbnailer.errors import CorruptImage, ImageTooLarge, UnsupportedImage

# Only these decoders ever see client data (Pillow's advisories: open only what you need).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")
DEFAULT_MAX_PIXELS = 100_000_000
JPEG_QUALITY = 85
# Shrink by whole factors (JPEG DCT scaling, Image.reduce) while staying at least
# this many times the target size, then finish with LANCZOS.
REDUCING_GAP = 3.0
# Formats that Image.draft() can decode at reduced scale, so they must not be loaded early.
_DRAFT_FORMATS = ("JPEG",)

# Errors Pillow raises on broken data, besides its own DecompressionBombError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error, TypeError)


@dataclasses.dataclass(frozen=True)
class ThumbnailSpec:
    width: int = 100
    height: int = 100
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclasses.dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str
    width: int
    height: int


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


def render(data: bytes, spec: ThumbnailSpec = ThumbnailSpec()) -> Thumbnail:
    """Fit the image inside spec's box, aspect kept, EXIF orientation applied, encoded."""
    return _encode(shrink(data, spec))


def shrink(data: bytes, spec: ThumbnailSpec = ThumbnailSpec()) -> Image.Image:
    """The thumbnail as pixels, before encoding (the benchmark compares these losslessly).

    One decode: a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that stays
    REDUCING_GAP times above the final size, other formats are reduced by a whole factor,
    and LANCZOS finishes. Orientation is applied to the small image, never the full one.
    """
    return decode_scaled(data, spec.max_pixels, lambda size: fit(size, (spec.width, spec.height)))[0]


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
            method = _TRANSPOSE_METHODS.get(orientation)
            return (image.transpose(method) if method is not None else image), upright
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(str(error)) from error
    except _DECODE_ERRORS as error:
        raise CorruptImage(f"cannot decode image: {error}") from error


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size inside box with size's aspect ratio; never larger than size."""
    width, height = size
    scale = min(box[0] / width, box[1] / height)
    if scale >= 1:
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
