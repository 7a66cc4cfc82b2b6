"""Fuzzing the decode/render path: whatever the bytes, render() returns the thumbnails or raises
a RenderError (which fails the job with a code) - never another exception, which would leave the
job to be retried until MAX_RECEIVES. Every example is rendered as the default output and as
every other kind a job can ask for (cover, pad with a background, WebP, AVIF where supported,
GIF, and animated GIF and WebP).

Bounded for CI: FUZZ_EXAMPLES (default 200) examples per test, no deadline. Run longer with
FUZZ_EXAMPLES=20000 scripts/test.sh tests/test_fuzz.py
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core import formats
from core.errors import RenderError
from core.outputs import OutputSpec
from core.render import render
from tests import images

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
# Small enough that a mutated header cannot make one example decode for long.
MAX_PIXELS = 4_000_000
# One job asking for every kind of output: the default, each fit, each format this Pillow writes.
SPECS = (
    OutputSpec(),
    OutputSpec(64, 48, "png", "cover"),
    OutputSpec(80, 60, "jpeg", "pad", quality=70, background="#336699"),
    OutputSpec(50, 50, "webp", "pad", background="transparent"),
    *((OutputSpec(40, 30, "avif", "cover"),) if "avif" in formats.supported_formats() else ()),
    OutputSpec(40, 40, "gif", "pad"),
    OutputSpec(40, 40, "gif", animated=True),
    OutputSpec(30, 30, "webp", "cover", animated=True),
)
CORPUS = Path(__file__).resolve().parent / "corpus"


def _seeds() -> list[bytes]:
    """Valid images of every allowed format and mode, plus the hostile corpus."""
    small = images.two_halves(48, 32)
    seeds = [images.encode(small, fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")]
    seeds += [images.jpeg(48, 32, orientation=6), images.png_with_alpha(48, 32), images.palette_gif(40, 40),
              images.encode(small.convert("CMYK"), "TIFF"), images.encode(small, "JPEG", progressive=True),
              images.encode(small.convert("LA"), "PNG"), images.encode(small.convert("1"), "BMP"),
              images.heic(48, 32), images.mpo(48, 32), images.encode(small, "PNG", transparency=images.RED),
              images.encode(small, "JPEG", icc_profile=images.wide_gamut_profile()),
              *(images.encode(small, fmt, save_all=True, append_images=[small.rotate(180)], duration=40)
                for fmt in ("GIF", "WEBP"))]
    if "avif" in formats.supported_formats():
        seeds.append(images.avif(48, 32))
    hostile = [path.read_bytes() for path in sorted(CORPUS.iterdir()) if path.suffix != ".py"]
    return seeds + [data for data in hostile if data]


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    """A seed image with a few bytes overwritten, removed or inserted, or cut short."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(("overwrite", "delete", "insert", "truncate")))
        if action == "overwrite" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "delete" and data:
            del data[position:position + draw(st.integers(1, 16))]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif action == "truncate":
            del data[position:]
    return bytes(data)


def assert_renders_or_refuses(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd metadata; warnings are fine
        try:
            thumbnails = render(data, SPECS, MAX_PIXELS)
        except RenderError as error:
            assert 400 <= error.code < 500 and str(error)
            return
    assert len(thumbnails) == len(SPECS)
    for spec, thumbnail in zip(SPECS, thumbnails, strict=True):
        decoded = Image.open(io.BytesIO(thumbnail.data))
        decoded.load()
        if spec.fit == "pad":
            assert decoded.size == (spec.width, spec.height)
        else:
            assert decoded.width <= spec.width and decoded.height <= spec.height
        if spec.fit == "cover":  # the box's shape, shrunk where the source is smaller (never upscaled)
            assert abs(decoded.width * spec.height - decoded.height * spec.width) <= max(spec.width, spec.height)
        if spec.format != formats.AUTO:
            assert decoded.format == formats.PIL_NAMES[spec.format]
        assert thumbnail.content_type == Image.MIME[decoded.format]


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@FUZZ
@given(mutated())
def test_mutated_images_render_or_fail_cleanly(data):
    assert_renders_or_refuses(data)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_render_or_fail_cleanly(data):
    assert_renders_or_refuses(data)


@FUZZ
@given(st.sampled_from(SEEDS[:6]), st.binary(min_size=1, max_size=64))
def test_images_with_junk_appended_render_or_fail_cleanly(seed, junk):
    assert_renders_or_refuses(seed + junk)
