"""The one render function: image bytes in, every output of a job out, from a single decode; no I/O.

The source is decoded once (a JPEG at the smallest scale the largest output allows; an 8-bit PNG
by libspng); each output is then resampled from it on its own, a cover output from its centred
crop only, turned upright, converted from its embedded colour profile to sRGB and encoded without
metadata. An animated output decodes the frames of an animated GIF or WebP one at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import math
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import imagecodecs
from PIL import ExifTags, Image, ImageCms

from core import formats
from core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from core.outputs import DEFAULT_OUTPUTS, OutputSpec

DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_MAX_FRAMES = 200  # the frames an animated output may keep (Settings.max_animation_frames)
# Decoding an animation's frames one by one costs up to ~55 bytes per pixel of one frame (libwebp's
# canvases, Pillow's frame copies; measured, README "Memory bound"), against 8 for a still image:
# a frame kept animated counts as at least this many frames against the pixel cap...
MIN_COUNTED_FRAMES = 8
# ...and the animated outputs' frames (4 bytes a pixel, all held until encoded) share this part of it.
OUTPUT_FRAMES_SHARE = 4
# Shrink by whole factors (JPEG DCT scaling, Image.reduce) while staying at least
# this many times the target size, then finish with LANCZOS.
REDUCING_GAP = 3.0
_WHITE = (255, 255, 255, 255)

# Errors Pillow raises on broken data, besides its own DecompressionBombError (RuntimeError: the
# AVIF and HEIF plugins' word for libavif's and libheif's failures).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error, TypeError,
                  RuntimeError)
# The PNG layouts libspng decodes as Pillow would (8-bit RGB, RGBA, greyscale; Pillow's rawmode):
# twice Pillow's speed on big PNGs (zlib-ng's inflate, SIMD unfiltering). The rest stays Pillow's.
_SPNG_RAWMODES = ("RGB", "RGBA", "L")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# The ICC colour space each decoded mode's profile must describe for a conversion to sRGB.
_PROFILE_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "CMYK": "CMYK"}


@dataclasses.dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str
    width: int
    height: int


def render(data: bytes, specs: tuple[OutputSpec, ...] = DEFAULT_OUTPUTS,
           max_pixels: int = DEFAULT_MAX_PIXELS, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Thumbnail]:
    """Every output of a job, in order, from a single decode of `data` (an animated output's
    frames are decoded once more, one at a time)."""
    source = _decode(data, max_pixels, specs)
    animated = [spec for spec in specs if spec.animated]
    movies = _animations(data, source, animated, max_pixels, max_frames) if animated else {}
    return [movies[spec] if spec in movies else _encode_as(_derive(source, spec), spec) for spec in specs]


@dataclasses.dataclass(frozen=True)
class _Source:
    """The decoded image, in its stored orientation and a mode the resampler filters well (a JPEG
    is decoded, at reduced scale, when first resampled)."""

    image: Image.Image
    stored: tuple[int, int]  # the full image's size before any reduced-scale decode
    orientation: int  # EXIF, 1 to 8
    profile: bytes | None = None  # the embedded ICC profile, converted from on each small output

    @property
    def turned(self) -> bool:
        return self.orientation in _TRANSPOSING

    @property
    def upright(self) -> tuple[int, int]:
        """The full image's size as displayed."""
        return (self.stored[1], self.stored[0]) if self.turned else self.stored


def _needed_size(size: tuple[int, int], spec: OutputSpec) -> tuple[int, int]:
    """The size the whole source would need to be scaled to for this output (cover fills the box)."""
    if spec.fit != "cover":
        return fit(size, (spec.width, spec.height), spec.upscale)
    scale = max(spec.width / size[0], spec.height / size[1])
    scale = scale if spec.upscale else min(1.0, scale)
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _derive(source: _Source, spec: OutputSpec) -> Image.Image:
    """One output, upright, resampled straight from the decoded source.

    Each output is resampled on its own, a cover output from its crop only: a shared intermediate
    at the largest output's scale would hold, for a cover output of a long thin image, nearly the
    whole image a second time (README, "Memory bound")."""
    box = (spec.width, spec.height)
    if spec.fit == "cover":
        box = box if spec.upscale else _within(box, source.upright)
        return _resampled(source, box, _centred_crop(source.upright, box))
    fitted = _resampled(source, fit(source.upright, box, spec.upscale))
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


def _centred_crop(size: tuple[int, int], box: tuple[int, int]) -> tuple[float, float]:
    """The width and height of the largest centred region of `size` with the box's aspect ratio."""
    scale = max(box[0] / size[0], box[1] / size[1])
    return min(size[0], box[0] / scale), min(size[1], box[1] / scale)


def _resampled(source: _Source, size: tuple[int, int], crop: tuple[float, float] | None = None) -> Image.Image:
    """The source's centred `crop` (upright width and height; all of it when None) at `size`, upright.

    The crop is centred, so it is the same region whatever the orientation; only its sides swap."""
    image = source.image
    if source.turned:
        size = (size[1], size[0])
        crop = None if crop is None else (crop[1], crop[0])
    region = None
    if crop is not None and not all(map(math.isclose, crop, source.stored)):
        # In the decoded image's pixels: a JPEG may have been decoded at reduced scale.
        width = crop[0] * image.width / source.stored[0]
        height = crop[1] * image.height / source.stored[1]
        region = ((image.width - width) / 2, (image.height - height) / 2,
                  (image.width + width) / 2, (image.height + height) / 2)
    with _decode_errors():
        if image.size != size or region is not None:
            # reduce() by a whole factor, then LANCZOS to exactly the size.
            image = image.resize(size, Image.Resampling.LANCZOS, box=region, reducing_gap=REDUCING_GAP)
        image.load()  # a small image needs no resize: decode it here, where errors are caught
    # Colour conversion on the small image: the same colours as converting the whole image first
    # (tests/test_colour.py), at a cost that does not grow with it.
    image = _to_output_mode(_to_srgb(image, source.profile))
    # Outputs carry no metadata of the source (comment, ICC profile, EXIF, XMP).
    image.info = {key: value for key, value in image.info.items() if key == "transparency"}
    method = _TRANSPOSE_METHODS.get(source.orientation)
    return image.transpose(method) if method is not None else image


def _background(spec: OutputSpec) -> tuple[int, int, int, int]:
    """The pad colour: as asked, else transparent where the format has alpha, else white."""
    value = spec.background
    if value is None:
        return (0, 0, 0, 0) if spec.format in formats.ALPHA_FORMATS else _WHITE
    if value == "transparent":
        return 0, 0, 0, 0
    digits = value.lstrip("#")
    red, green, blue = (int(digits[index:index + 2], 16) for index in (0, 2, 4))
    return red, green, blue, int(digits[6:8], 16) if len(digits) == 8 else 255


def _encode_as(image: Image.Image, spec: OutputSpec) -> Thumbnail:
    """Encode in the spec's format; metadata is dropped. 'auto' (the historic default) is PNG for
    an RGBA or LA image, else JPEG, each written as it is (every mode the decode gives fits)."""
    if spec.format == formats.AUTO:
        image_format = formats.auto_format(image.mode)
    else:
        image_format = spec.format
        image = _converted_for(image, image_format)
    lossy = image_format in formats.DEFAULT_QUALITY
    options = {"quality": spec.quality or formats.DEFAULT_QUALITY[image_format]} if lossy else {}
    buffer = io.BytesIO()
    image.save(buffer, formats.PIL_NAMES[image_format], **options)
    return Thumbnail(buffer.getvalue(), formats.CONTENT_TYPES[image_format], image.width, image.height)


def _animations(data: bytes, source: _Source, specs: list[OutputSpec], max_pixels: int,
                max_frames: int) -> dict[OutputSpec, Thumbnail]:
    """The animated outputs of an animated GIF or WebP, every frame resampled as a still output
    would be; empty for a still image (those outputs take its one frame). The frame cap and the
    pixel cap, over width x height x frames of the input and of each output, are checked before a
    frame is decoded; frames are decoded one at a time, and only their small outputs are kept."""
    image = open_image(data, max_pixels)
    if image.format not in formats.ANIMATED_DECODERS:
        return {}
    with _decode_errors():
        if not getattr(image, "is_animated", False):  # reads the second frame's header: may raise
            return {}
        count: int = getattr(image, "n_frames", 1)  # reads the frames' headers, decodes no pixels
        if count > max_frames:
            raise ImageTooLarge(f"animation has {count} frames; the limit is {max_frames}")
        pixels = image.width * image.height
        if pixels * max(count, MIN_COUNTED_FRAMES) > max_pixels:
            raise ImageTooLarge(f"animated image is {pixels} pixels x {count} frames (counted as at least "
                                f"{MIN_COUNTED_FRAMES}); the limit is {max_pixels}")
        made_pixels = sum(math.prod(_output_size(source, spec)) for spec in specs) * count
        if made_pixels > max_pixels // OUTPUT_FRAMES_SHARE:
            raise ImageTooLarge(f"animated outputs are {made_pixels} pixels over {count} frames; "
                                f"the limit is {max_pixels // OUTPUT_FRAMES_SHARE}")
        frames: dict[OutputSpec, list[Image.Image]] = {spec: [] for spec in specs}
        durations = []
        for index in range(count):
            image.seek(index)
            frame = dataclasses.replace(source, image=image.convert("RGBA"))
            for spec, made in frames.items():
                made.append(_converted_for(_derive(frame, spec), spec.format))
            durations.append(int(image.info.get("duration") or 100))
        loop = int(image.info.get("loop", 0))
    return {spec: _encode_animation(made, durations, loop, spec) for spec, made in frames.items()}


def _output_size(source: _Source, spec: OutputSpec) -> tuple[int, int]:
    """The upright size an output of this source will have."""
    box = (spec.width, spec.height)
    if spec.fit == "pad":
        return box
    if spec.fit == "cover":
        return box if spec.upscale else _within(box, source.upright)
    return fit(source.upright, box, spec.upscale)


def _encode_animation(frames: list[Image.Image], durations: list[int], loop: int, spec: OutputSpec) -> Thumbnail:
    """The frames written as one animated GIF or WebP, with the input's timing and loop count."""
    options: dict = {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": loop}
    if spec.format == "webp":
        options["quality"] = spec.quality or formats.DEFAULT_QUALITY["webp"]
    else:
        options["disposal"] = 2  # each frame replaces the last: frames are whole, not deltas
    buffer = io.BytesIO()
    frames[0].save(buffer, formats.PIL_NAMES[spec.format], **options)
    return Thumbnail(buffer.getvalue(), formats.CONTENT_TYPES[spec.format], frames[0].width, frames[0].height)


def _converted_for(image: Image.Image, image_format: str) -> Image.Image:
    """A mode the format can write, keeping alpha where it has alpha."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image_format == "jpeg":
        return _flattened(image) if has_alpha else image.convert("L" if image.mode == "L" else "RGB")
    if image_format == "png":
        return image
    if image_format == "gif":
        return _one_bit_alpha(image) if has_alpha else image
    return image.convert("RGBA" if has_alpha else "RGB")


def _one_bit_alpha(image: Image.Image) -> Image.Image:
    """GIF has one transparent palette entry: pixels under half opacity become it (Pillow's GIF
    writer makes exactly the alpha-0 pixels transparent), the rest opaque."""
    layer = image.convert("RGBA")
    layer.putalpha(layer.getchannel("A").point(lambda value: 255 if value >= 128 else 0))
    return layer


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
            image = Image.open(source, formats=formats.DECODERS)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"image has too many pixels (limit {max_pixels})") from error
    except Image.UnidentifiedImageError as error:
        raise UnsupportedImage(formats.UNSUPPORTED_MESSAGE) from error
    except _DECODE_ERRORS as error:
        raise CorruptImage(f"cannot read image header: {error}") from error
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage("image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    return image


def _decode(data: bytes, max_pixels: int, specs: tuple[OutputSpec, ...]) -> _Source:
    """Open, check and decode once, at the smallest scale the largest output allows.

    A JPEG decodes at the smallest DCT scale still REDUCING_GAP x the largest output's needed size
    (not the box: a wide photo would decode at twice the scale it needs); other formats decode
    whole. Orientation is read here and applied to each small output, never to the whole image."""
    image = open_image(data, max_pixels)
    with _decode_errors():
        pixels = _spng_decoded(image, data)
        if pixels is not None:
            return _Source(pixels, image.size, _png_orientation(image, data), image.info.get("icc_profile"))
        if image.format not in formats.REDUCED_SCALE_DECODERS:
            # Decode now, so that a broken stream raises here: reading a PNG's EXIF decodes
            # the whole image, and _orientation ignores errors (a corrupt PNG would otherwise
            # become a blank thumbnail). JPEGs wait, to be decoded at reduced scale.
            image.load()
        source = _Source(image, image.size, _orientation(image), image.info.get("icc_profile"))
        needed = max((_needed_size(source.upright, spec) for spec in specs), key=lambda size: size[0] * size[1])
        target = (needed[1], needed[0]) if source.turned else needed
        image.draft(None, (int(target[0] * REDUCING_GAP), int(target[1] * REDUCING_GAP)))  # a no-op but for JPEG
        return dataclasses.replace(source, image=_normalise_mode(image))


def _spng_decoded(image: Image.Image, data: bytes) -> Image.Image | None:
    """An 8-bit RGB, RGBA or greyscale PNG without tRNS decoded by libspng (imagecodecs); None for
    every other image, which Pillow decodes. Called after open_image has checked the size. A file
    libspng refuses goes to Pillow too, so that the verdict on a damaged PNG stays Pillow's."""
    tile = getattr(image, "tile", [])
    if image.format != "PNG" or "transparency" in image.info or len(tile) != 1 or tile[0].args not in _SPNG_RAWMODES:
        return None
    try:
        pixels = imagecodecs.spng_decode(data)
    except imagecodecs.SpngError:
        return None
    # Shares the array's memory for L and RGBA; RGB is copied into Pillow's 4-byte pixels (README,
    # "Memory bound": 7 bytes a pixel at the peak, under the RGBA case's 8).
    decoded = Image.fromarray(pixels)
    if decoded.size != image.size or decoded.mode != image.mode:
        raise CorruptImage(f"cannot decode image: libspng read {decoded.mode} {decoded.size}")
    return decoded


def _png_orientation(image: Image.Image, data: bytes) -> int:
    """A PNG's EXIF orientation without Pillow's decode: an eXIf chunk after the pixels is found
    by its name and checked by its CRC (compressed data that happens to hold the name fails it)."""
    if "exif" in image.info:
        return _orientation(image)
    start = data.find(b"eXIf")
    while start >= 4:
        length = struct.unpack(">I", data[start - 4:start])[0]
        end = start + 4 + length
        if data[end:end + 4] == struct.pack(">I", zlib.crc32(data[start:end])):
            return _exif_orientation(functools.partial(_parsed_exif, data[start + 4:end]))
        start = data.find(b"eXIf", start + 1)
    return 1


def _to_srgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    """The image in sRGB, from its embedded ICC profile; unchanged when it has none, or one that is
    broken or does not describe its mode (such files are common, and render as before)."""
    space = _PROFILE_SPACES.get(image.mode)
    if not profile or space is None:
        return image
    transform = _transform_to_srgb(profile, image.mode, space)
    return image if transform is None else transform.apply(image)


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(profile: bytes, mode: str, space: str) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS's transform from this profile to sRGB, built once per profile (a few ms each)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if source.profile.xcolor_space != space:
            return None
        return ImageCms.ImageCmsTransform(source, _SRGB, mode, "RGB" if mode == "CMYK" else mode,
                                          ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


@contextlib.contextmanager
def _decode_errors() -> Iterator[None]:
    """Pillow's errors on broken or oversized data, as the job failures they are."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
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
    return _exif_orientation(image.getexif)


def _parsed_exif(raw: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(raw)
    return exif


def _exif_orientation(read_exif: Callable[[], Image.Exif]) -> int:
    """The orientation of the EXIF read_exif parses, or 1 when it is missing, unknown or unreadable."""
    try:
        value = read_exif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE_METHODS else 1


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Give the resampler a mode it filters well (palette and 16-bit images otherwise suffer)."""
    mode = image.mode
    if mode in ("RGB", "L") and "transparency" in image.info:
        # A PNG's tRNS colour: transparent wherever it appears.
        return image.convert("RGBA" if mode == "RGB" else "LA")
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
        highest = image.getextrema()[1]  # a single band: (lowest, highest)
        scale = 255.0 / 65535.0 if isinstance(highest, (int, float)) and highest > 255 else 1.0
        return image.point(lambda value: value * scale).convert("L")
    if image.mode == "CMYK":
        return image.convert("RGB")
    return image
