"""A render's memory grows with the pixel count, at no more than the documented bytes per pixel
(README, "Memory bound"); so MAX_IMAGE_PIXELS bounds a thumbnailer's peak memory."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.environment import ROOT

# RGBA costs the most: the decoded image plus Pillow's premultiplied-alpha copy, 4 + 4 bytes.
DOCUMENTED_BYTES_PER_PIXEL = 8
# Allocator and interpreter noise at this size, in bytes per pixel.
SLACK = 1


def test_peak_memory_per_pixel_stays_within_the_documented_bound():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "peak_memory.py"), "--megapixels", "16"],
                         capture_output=True, text=True, timeout=300, check=True)
    cases = [case for case in json.loads(run.stdout) if "bytes_per_pixel_above_baseline" in case]
    assert len(cases) == 5
    for case in cases:
        assert case["bytes_per_pixel_above_baseline"] <= DOCUMENTED_BYTES_PER_PIXEL + SLACK, case
