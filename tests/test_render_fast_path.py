"""The fast path of render(): reduced-scale JPEG decoding, orientation after shrinking,
one decode per job, quality against a full-decode reference, refusals before decoding.
(tests/test_render.py covers sizes, modes and orientation of small inputs.)"""

from __future__ import annotations

import io
import math
import random

import imagecodecs
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFile, ImageOps, ImageStat

from core.errors import ImageTooLarge, UnsupportedImage
from core.outputs import OutputSpec
from core.render import render
from tests import images
from tests.images import ORIENTATIONS

MIN_PSNR_DB = 40.0
# The default output's box and fit, written losslessly: the rendered pixels, exactly.
LOSSLESS = (OutputSpec(format="png"),)


def psnr(ours: Image.Image, reference: Image.Image) -> float:
    """Peak signal-to-noise ratio over all bands, from Pillow's own statistics."""
    squared_errors = [rms**2 for rms in ImageStat.Stat(ImageChops.difference(ours, reference)).rms]
    mse = sum(squared_errors) / len(squared_errors)
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def photo_like(width: int, height: int) -> Image.Image:
    """Smooth gradients with mild grain: compresses and resamples like a photograph."""
    grain = Image.effect_noise((width, height), 12).point(lambda v: 128 + (v - 128) // 4)
    return Image.merge("RGB", [
        Image.linear_gradient("L").resize((width, height)),
        Image.radial_gradient("L").resize((width, height)),
        Image.blend(Image.linear_gradient("L").rotate(90).resize((width, height)), grain, 0.3),
    ])


def sharp_edged(width: int, height: int) -> Image.Image:
    """Many small hard-edged squares: shows a resampling that blurs or shifts (cutting a crop at
    a half pixel from an already resampled image did both)."""
    rng = random.Random(7)
    image = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    for _ in range(3000):
        x, y, side = rng.randrange(width), rng.randrange(height), rng.randrange(4, 40)
        draw.rectangle((x, y, x + side, y + side), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    return image


@pytest.fixture
def decodes(monkeypatch):
    """The sizes at which images were decoded, one entry per decoder Pillow or libspng ran."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load
    spng_decode = imagecodecs.spng_decode

    def spng(data):
        pixels = spng_decode(data)
        sizes.append((pixels.shape[1], pixels.shape[0]))
        return pixels

    monkeypatch.setattr(imagecodecs, "spng_decode", spng)

    def load(self):
        if self.tile:  # tiles left means pixels are about to be decoded
            sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def test_large_jpeg_is_decoded_at_reduced_dct_scale(decodes):
    data = images.encode(photo_like(3200, 2400), "JPEG", quality=90)
    [result] = render(data)
    assert (result.width, result.height) == (100, 75)
    assert decodes == [(400, 300)]  # 1/8 scale, still REDUCING_GAP x the 100x75 target


def test_wide_jpeg_is_decoded_at_the_scale_its_fitted_size_needs(decodes):
    data = images.encode(photo_like(1920, 1080), "JPEG", quality=90)
    render(data)
    assert decodes == [(480, 270)]  # 1/4 for a 100x56 thumbnail, not 1/2 for the 100x100 box


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_one_decode_per_job(decodes, fmt):
    render(images.encode(photo_like(800, 600), fmt))
    assert len(decodes) == 1


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_orientation_is_applied_to_the_small_image_only(orientation, monkeypatch):
    transposed: list[tuple[int, int]] = []
    original = Image.Image.transpose

    def transpose(self, method):
        transposed.append(self.size)
        return original(self, method)

    monkeypatch.setattr(Image.Image, "transpose", transpose)
    side, size = ORIENTATIONS[orientation]
    data = images.jpeg(3200, 1600, orientation=orientation)
    thumbnail = images.decode(render(data)[0].data).convert("RGB")
    assert thumbnail.size == size
    assert all(max(s) <= 100 for s in transposed)
    w, h = size
    probes = {"left": (w // 5, h // 2), "right": (w - w // 5, h // 2),
              "top": (w // 2, h // 5), "bottom": (w // 2, h - h // 5)}
    assert images.colour_distance(thumbnail.getpixel(probes[side]), images.RED) < 60


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_of_non_jpeg_inputs(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = images.encode(images.two_halves(400, 200), "PNG", exif=exif.tobytes())
    side, size = ORIENTATIONS[orientation]
    assert images.decode(render(data)[0].data).size == size


@pytest.mark.parametrize("fmt, mode, width, height", [
    ("JPEG", "RGB", 1600, 1200),   # DCT-scaled decode, then LANCZOS
    ("JPEG", "RGB", 1920, 1080),
    ("PNG", "RGB", 1200, 900),     # whole-factor reduce, then LANCZOS
    ("WEBP", "RGB", 1000, 750),
    ("PNG", "RGBA", 800, 800),
])
def test_quality_against_full_decode_lanczos(fmt, mode, width, height):
    source = photo_like(width, height)
    if mode == "RGBA":
        source.putalpha(Image.radial_gradient("L").resize((width, height)))
    options = {"quality": 90} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
    data = images.encode(source, fmt, **options)
    ours = images.decode(render(data, LOSSLESS)[0].data)
    reference = images.decode(data).resize(ours.size, Image.Resampling.LANCZOS)
    if mode == "RGBA":  # colour under transparent pixels is invisible: compare premultiplied
        ours, reference = ours.convert("RGBa"), reference.convert("RGBa")
    assert psnr(ours, reference) >= MIN_PSNR_DB


@pytest.mark.parametrize("fmt, orientation", [("JPEG", 1), ("JPEG", 6), ("PNG", 1)])
@pytest.mark.parametrize("box", [(300, 100), (100, 300), (256, 256)])
def test_cover_quality_against_full_decode_fit(fmt, orientation, box):
    source = sharp_edged(1920, 1080)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = images.encode(source, fmt, exif=exif.tobytes(), **({"quality": 90} if fmt == "JPEG" else {}))
    [output] = render(data, (OutputSpec(*box, "png", "cover"),))
    ours = images.decode(output.data)
    upright = ImageOps.exif_transpose(images.decode(data))
    reference = ImageOps.fit(upright, box, Image.Resampling.LANCZOS)
    assert ours.size == box and psnr(ours, reference) >= MIN_PSNR_DB


def test_pixel_cap_refuses_a_jpeg_before_any_pixel_is_decoded(decodes):
    data = images.jpeg(2000, 1000)
    with pytest.raises(ImageTooLarge, match="limit"):
        render(data, max_pixels=1_000_000)
    assert decodes == []


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PPM", "PCX", "SGI", "DDS", "QOI"])
def test_decoders_outside_the_allow_list_never_see_the_data(fmt, decodes):
    try:
        data = images.encode(images.two_halves(64, 64), fmt)
    except (KeyError, OSError):
        pytest.skip(f"this Pillow cannot write {fmt}")
    assert Image.open(io.BytesIO(data)).format  # Pillow itself could read it...
    decodes.clear()
    with pytest.raises(UnsupportedImage):
        render(data)  # ...but render() refuses it,
    assert decodes == []  # before decoding anything.
