#!/usr/bin/env python3
"""Peak memory of one render on worst-case inputs: what bounds a thumbnailer's RSS.

For each case it writes an image at the pixel limit (or near the upload limit) to a temporary
folder, renders it in a fresh child process exactly as the worker does (bytes in memory, then
core.render.render()), once per set of outputs, and reports the child's peak resident set size
from the kernel (ru_maxrss). Output sets: `default` (the one 100x100 thumbnail a job without
options gets) and `every-kind` (one job asking for every fit and format, the largest at
MAX_OUTPUT_SIDE).

    .venv/bin/python scripts/peak_memory.py --megapixels 25 100 --outputs default every-kind

Costs a few GB of memory and a minute or two of CPU at 100 megapixels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402

CHILD = """
import json, sys
from core.formats import supported_formats
from core.outputs import OutputSpec
from core.render import render
data = open(sys.argv[1], "rb").read()  # the worker holds the whole input in memory too
if sys.argv[2] != "baseline":
    # AVIF only where this Pillow writes it (it needs libavif)
    specs = [spec for spec in json.loads(sys.argv[3]) if spec.get("format", "auto") in supported_formats()]
    render(data, tuple(OutputSpec.from_dict(spec) for spec in specs), int(sys.argv[2]))
"""

MAKE = """
import sys
from PIL import Image
import core
path, fmt, mode, width, height = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ramp = Image.linear_gradient("L").resize((width, height))
if mode == "I;16":
    image = ramp.convert("I").point(lambda v: v * 257).convert("I;16")
elif mode == "noise":
    image = Image.effect_noise((width, height), 64).convert("RGB")
elif mode != "animated":
    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    image = Image.merge("RGB", (ramp, across, ramp)).convert(mode)
options = {"compression": "tiff_lzw"} if fmt == "TIFF" else {"quality": 95} if fmt == "JPEG" else {}
if mode == "animated":  # FRAMES frames of width x height, two noise pictures in turn
    pictures = [Image.effect_noise((width, height), 64).convert("RGB").quantize(64) for _ in range(2)]
    frames = [pictures[index % 2] for index in range(int(sys.argv[6]))]
    options = {"save_all": True, "append_images": frames[1:], "duration": 100, "lossless": fmt == "WEBP"}
    image = frames[0]
image.save(path, fmt, **options)
"""

MAX_OUTPUT_SIDE = Settings.max_output_side  # the default: the largest output a job may ask for
# The outputs each case is rendered to, as a job's `output` field gives them.
OUTPUT_SETS = {
    "default": [{}],
    "every-kind": [
        {},
        {"format": "png", "size": [MAX_OUTPUT_SIDE, MAX_OUTPUT_SIDE], "fit": "cover"},
        {"format": "jpeg", "size": [800, 600], "fit": "pad", "background": "#336699"},
        {"format": "webp", "size": [400, 400], "fit": "pad", "background": "transparent"},
        {"format": "avif", "size": [300, 200], "fit": "cover"},
    ],
}

# name, format, mode, shape: the decoders, modes and shapes that cost the most bytes per pixel
# Animations at the pixel cap as render() counts it: FRAMES frames of pixels / FRAMES each.
FRAMES = 8
ANIMATED_CASES = [("gif-animated", "GIF", "animated", "square"), ("webp-animated", "WEBP", "animated", "square")]
CASES = [
    ("jpeg-rgb", "JPEG", "RGB", "square"),       # decoded at reduced DCT scale: cheap
    ("png-rgb", "PNG", "RGB", "square"),
    ("png-rgba", "PNG", "RGBA", "square"),
    ("png-grey16", "PNG", "I;16", "square"),     # widened to 32-bit float to resample
    ("tiff-cmyk", "TIFF", "CMYK", "square"),
    ("png-rgba-tall", "PNG", "RGBA", "tall"),    # a large cover output uses a small part of it
]


def animated_outputs(pixels: int) -> list[dict]:
    """An animated GIF and WebP output, square, together at the quarter of the cap they may use."""
    side = int((pixels / 4 / FRAMES / 2) ** 0.5)
    return [{"format": name, "size": [side, side], "fit": "pad", "animated": True} for name in ("gif", "webp")]


def dimensions(megapixels: int, shape: str) -> tuple[int, int]:
    """Square, or tall: just wider than MAX_OUTPUT_SIDE, so a largest cover output is a small crop."""
    pixels = megapixels * 1_000_000
    width = int(pixels**0.5) if shape == "square" else int(MAX_OUTPUT_SIDE * 1.05)
    return width, pixels // width


def peak_rss_mib(args: list[str]) -> float:
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT)  # the child imports this checkout's core
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"peak_memory.py: {args} failed with status {status}")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--outputs", nargs="+", choices=sorted([*OUTPUT_SETS, "animated"]), default=["default"],
                        help="the sets of outputs to render each case to (default: default); `animated` "
                             "renders animated GIF and WebP inputs to animated outputs instead")
    args = parser.parse_args(argv)
    output_sets = {name: OUTPUT_SETS[name] for name in args.outputs if name in OUTPUT_SETS}
    cases = (CASES if output_sets else []) + (ANIMATED_CASES if "animated" in args.outputs else [])
    results = []
    with tempfile.TemporaryDirectory(prefix="thumbnails-memory-") as folder:
        sample = Path(folder) / "tiny.png"
        subprocess.run([sys.executable, "-c", MAKE, str(sample), "PNG", "RGB", "16", "16"], check=True)
        baseline = peak_rss_mib(["-c", CHILD, str(sample), "baseline"])
        results.append({"case": "python + Pillow, no render", "peak_rss_mib": round(baseline)})
        for megapixels in args.megapixels:
            for name, fmt, mode, shape in cases:
                animated = mode == "animated"
                width, height = dimensions(megapixels // FRAMES if animated else megapixels, shape)
                pixels = width * height * (FRAMES if animated else 1)  # as the pixel cap counts them
                path = Path(folder) / f"{name}-{megapixels}.{fmt.lower()}"
                subprocess.run([sys.executable, "-c", MAKE, str(path), fmt, mode, str(width), str(height), str(FRAMES)],
                               check=True)
                sets = {"animated": animated_outputs(pixels)} if animated else output_sets
                for outputs, specs in sets.items():
                    peak = peak_rss_mib(["-c", CHILD, str(path), str(pixels), json.dumps(specs)])
                    above = (peak - baseline) * 2**20 / pixels
                    results.append({"case": f"{name} {width}x{height}", "outputs": outputs, "pixels": pixels,
                                    "input_mib": round(path.stat().st_size / 2**20, 1), "peak_rss_mib": round(peak),
                                    "bytes_per_pixel_above_baseline": round(above, 2)})
                path.unlink()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
