"""A render's memory grows with the pixel count, at no more than the documented bytes per pixel
(README, "Memory bound"); so MAX_IMAGE_PIXELS bounds a thumbnailer's peak memory. Each input is
rendered as the default output and as a job asking for every kind of output (cover, pad with a
background, PNG, JPEG, WebP, AVIF where supported, the largest at MAX_OUTPUT_SIDE), whose
resampling buffers add the documented per-output term."""

from __future__ import annotations

import json
import subprocess
import sys

from core.settings import Settings
from tests.environment import ROOT

# RGBA costs the most: the decoded image plus Pillow's premultiplied-alpha copy, 4 + 4 bytes.
DOCUMENTED_BYTES_PER_PIXEL = 8
# Large outputs: resampling to MAX_OUTPUT_SIDE holds an RGBA buffer of MAX_OUTPUT_SIDE x at most
# the square root of the pixel count, then the output itself:
# 4 bytes x MAX_OUTPUT_SIDE x (sqrt(pixels) + MAX_OUTPUT_SIDE).
DOCUMENTED_OUTPUT_BYTES = 4
MAX_OUTPUT_SIDE = Settings.max_output_side  # the default, which peak_memory.py's every-kind set uses
# Allocator and interpreter noise at this size, in bytes per pixel.
SLACK = 1
MEGAPIXELS = 16
INPUTS = 6  # five decoders and modes, square, and a long thin RGBA image (the cover output's worst case)


def documented_bytes_per_pixel(case: dict) -> float:
    if case["outputs"] == "default":
        return DOCUMENTED_BYTES_PER_PIXEL
    pixels = case["pixels"]
    outputs = DOCUMENTED_OUTPUT_BYTES * MAX_OUTPUT_SIDE * (pixels**0.5 + MAX_OUTPUT_SIDE)
    return DOCUMENTED_BYTES_PER_PIXEL + outputs / pixels


def test_peak_memory_per_pixel_stays_within_the_documented_bound():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "peak_memory.py"), "--megapixels", str(MEGAPIXELS),
                          "--outputs", "default", "every-kind"],
                         capture_output=True, text=True, timeout=300, check=True)
    cases = [case for case in json.loads(run.stdout) if "bytes_per_pixel_above_baseline" in case]
    assert sorted(case["outputs"] for case in cases) == ["default"] * INPUTS + ["every-kind"] * INPUTS
    for case in cases:
        assert case["bytes_per_pixel_above_baseline"] <= documented_bytes_per_pixel(case) + SLACK, case


def test_animated_outputs_stay_within_the_same_bound():
    """An animation at the pixel cap as render() counts it (8 frames of an eighth of the cap each),
    GIF and WebP, to an animated GIF and WebP output together at their quarter of it."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "peak_memory.py"), "--megapixels", "8",
                          "--outputs", "animated"], capture_output=True, text=True, timeout=300, check=True)
    cases = [case for case in json.loads(run.stdout) if "bytes_per_pixel_above_baseline" in case]
    assert [case["case"].split()[0] for case in cases] == ["gif-animated", "webp-animated"]
    for case in cases:
        assert case["bytes_per_pixel_above_baseline"] <= DOCUMENTED_BYTES_PER_PIXEL + SLACK, case
