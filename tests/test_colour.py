"""Colour (README, "The thumbnail"): an embedded ICC profile is converted to sRGB on the small
image, and no output carries metadata: no EXIF, XMP, comment or ICC profile."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from core import formats
from core.outputs import OutputSpec
from core.render import render
from tests import images

# Converting the 100x75 thumbnail instead of the full image first: measured 0.21-0.24 levels of
# mean difference per channel and 53.7-54.4 dB PSNR on this source (PNG, JPEG, WebP, TIFF).
MAX_MEAN_LEVELS = 1.0
MIN_PSNR_DB = 45.0
# Left unconverted, the same thumbnail is 10.5 levels off: the test can tell the difference.
UNCONVERTED_MEAN_LEVELS = 5.0
LOSSLESS = (OutputSpec(format="png"),)


def photo_like(width: int = 1200, height: int = 900) -> Image.Image:
    return Image.merge("RGB", [Image.linear_gradient("L").resize((width, height)),
                               Image.radial_gradient("L").resize((width, height)),
                               Image.linear_gradient("L").rotate(90).resize((width, height))])


def mean_levels(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def psnr(a: Image.Image, b: Image.Image) -> float:
    squared = [rms**2 for rms in ImageStat.Stat(ImageChops.difference(a, b)).rms]
    mse = sum(squared) / len(squared)
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def reference(source: Image.Image, profile: bytes, size: tuple[int, int]) -> Image.Image:
    """The whole image converted to sRGB by LittleCMS first, then resized: the slow, exact way."""
    converted = ImageCms.profileToProfile(source, ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                          ImageCms.createProfile("sRGB"),
                                          renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    assert converted is not None
    return converted.resize(size, Image.Resampling.LANCZOS)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_a_wide_gamut_image_is_converted_to_srgb(fmt):
    source = photo_like()
    profile = images.wide_gamut_profile()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    data = images.encode(source, fmt, icc_profile=profile, **options)
    decoded = images.decode(data).convert("RGB")  # the input as stored, lossy codecs included
    [output] = render(data, LOSSLESS)
    ours = images.decode(output.data).convert("RGB")
    expected = reference(decoded, profile, ours.size)
    assert mean_levels(ours, expected) <= MAX_MEAN_LEVELS and psnr(ours, expected) >= MIN_PSNR_DB
    unconverted = decoded.resize(ours.size, Image.Resampling.LANCZOS)
    assert mean_levels(ours, unconverted) >= UNCONVERTED_MEAN_LEVELS


def test_alpha_survives_the_conversion():
    source = photo_like(300, 150).convert("RGBA")
    source.putalpha(Image.linear_gradient("L").resize((300, 150)))
    [output] = render(images.encode(source, "PNG", icc_profile=images.wide_gamut_profile()))
    thumbnail = images.decode(output.data)
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((50, 1))[3] < 10 and thumbnail.getpixel((50, 48))[3] > 240


def test_a_profile_for_another_colour_space_is_ignored():
    grey = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    source = photo_like(400, 300)
    [output] = render(images.encode(source, "PNG", icc_profile=grey), LOSSLESS)
    ours = images.decode(output.data).convert("RGB")
    assert psnr(ours, source.resize(ours.size, Image.Resampling.LANCZOS)) >= MIN_PSNR_DB


def metadata_rich_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"  # Make
    exif[0x8298] = "SecretCopyright"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SecretXmp</x:xmpmeta>'
    return images.encode(photo_like(400, 300), "JPEG", exif=exif.tobytes(), xmp=xmp,
                         icc_profile=images.wide_gamut_profile(), comment=b"SecretComment")


@pytest.mark.parametrize("image_format", [name for name in formats.supported_formats() if name != formats.AUTO])
@pytest.mark.parametrize("fit", ["contain", "pad"])
def test_no_output_carries_metadata(image_format, fit):
    [output] = render(metadata_rich_jpeg(), (OutputSpec(120, 120, image_format, fit),))
    for secret in (b"SecretCamera", b"SecretCopyright", b"SecretXmp", b"SecretComment", b"wide gamut test profile",
                   b"Exif\0\0", b"ICC_PROFILE"):
        assert secret not in output.data, secret
    thumbnail = images.decode(output.data)
    assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile"} & set(thumbnail.info)
    assert not thumbnail.getexif()
