#!/usr/bin/env python3
"""The one place the benchmarks find their images: `--corpus PATH`, else ../shared/bench-corpus
(the photographic corpus of the machine this project is developed on), else a corpus this
script generates into .bench-corpus/ of the repository (once; later runs reuse it).

    .venv/bin/python bench/corpus.py [FOLDER] [--scale 0.1]     # generate one explicitly

The generated images keep the shared corpus's names, sizes and encoder settings, so every
script runs on either. Recipe (deterministic, seed 2026): per channel, 1/f "pink" value noise
(eight octaves of random grids, each resized to the full frame with bicubic interpolation and
weighted by its scale, so large smooth regions carry fine detail like a photograph's), a
left-to-right light gradient, then Gaussian grain (sigma 5.5): a JPEG at quality 90 comes out
at 1.8-2 bits per pixel, like the shared corpus's photographs (1.8-2.4), so decoders and uploads
do comparable work. It is not a photograph: compare ratios measured in one run on one corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench-corpus"
GENERATED = ROOT / ".bench-corpus"
MANIFEST = "manifest.json"
SEED = 2026
OCTAVES = 8
GRAIN_SIGMA = 5.5
EXIF_ORIENTATION = 0x0112

# name: (width, height, mode, Pillow format, save arguments), as in the shared corpus.
FILES: dict[str, tuple[int, int, str, str, dict]] = {
    "jpeg_12mp_baseline.jpg": (4000, 3000, "RGB", "JPEG", {"quality": 90}),
    "jpeg_12mp_progressive.jpg": (4000, 3000, "RGB", "JPEG", {"quality": 90, "progressive": True}),
    "jpeg_12mp_exif6.jpg": (4000, 3000, "RGB", "JPEG", {"quality": 90}),
    "jpeg_24mp_baseline.jpg": (6000, 4000, "RGB", "JPEG", {"quality": 90}),
    "jpeg_fullhd_1920x1080.jpg": (1920, 1080, "RGB", "JPEG", {"quality": 90}),
    "png_12mp_rgb.png": (4000, 3000, "RGB", "PNG", {}),
    "png_2000x2000_rgba.png": (2000, 2000, "RGBA", "PNG", {}),
    "webp_2000x1500.webp": (2000, 1500, "RGB", "WEBP", {"quality": 90}),
}


class MissingCorpus(SystemExit):
    """A --corpus that is not there, or lacks a file a benchmark needs: exit 2 with a message
    that says what to pass."""

    def __init__(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        super().__init__(2)


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, default=None,
                        help=f"folder of benchmark images (default: {SHARED} if present, else one generated "
                             f"into {GENERATED} by bench/corpus.py)")


def resolve(path: Path | None, needed: tuple[str, ...] | list[str] = ()) -> Path:
    """The corpus folder to use. An explicit path must exist and hold `needed`; without one, the
    shared corpus, else the generated one (made now if missing, only the files needed)."""
    if path is not None:
        if not path.is_dir():
            raise MissingCorpus(f"no corpus folder at {path}: pass --corpus PATH, a folder of images, or leave "
                                "--corpus out to use ../shared/bench-corpus or a generated corpus (bench/corpus.py)")
        missing = [name for name in needed if not (path / name).is_file()]
        if missing:
            raise MissingCorpus(f"the corpus at {path} lacks {', '.join(missing)}: generate them with "
                                f"`python bench/corpus.py {path}` or pass another --corpus")
        return path
    if SHARED.is_dir() and all((SHARED / name).is_file() for name in needed):
        return SHARED
    wanted = [name for name in (needed or FILES) if not (GENERATED / name).is_file()]
    if wanted:
        print(f"generating {', '.join(wanted)} into {GENERATED} (bench/corpus.py; once)", file=sys.stderr)
        generate(GENERATED, names=wanted)
    return GENERATED


def pixels(width: int, height: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Photograph-like 8-bit pixels: pink value noise + a light gradient + grain (see above)."""
    planes = []
    for _ in range(channels):
        plane = np.zeros((height, width), np.float32)
        for octave in range(OCTAVES):
            cells = 2 ** (octave + 2)
            grid = rng.random((max(2, cells * height // width), cells), dtype=np.float32)
            layer = Image.fromarray(grid, "F").resize((width, height), Image.Resampling.BICUBIC)
            plane += np.asarray(layer) / (octave + 1)
        planes.append(plane)
    image = np.stack(planes, axis=-1)
    image -= image.min()
    image *= 200.0 / image.max()
    image += np.linspace(0, 40, width, dtype=np.float32)[None, :, None]
    image += rng.normal(0, GRAIN_SIGMA, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(name: str, scale: float, rng: np.random.Generator) -> tuple[bytes, dict]:
    width, height, mode, kind, save = FILES[name]
    width, height = max(16, round(width * scale)), max(16, round(height * scale))
    image = Image.fromarray(pixels(width, height, len(mode), rng), mode)
    arguments = dict(save)
    if "exif6" in name:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6
        arguments["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, kind, **arguments)
    data = buffer.getvalue()
    return data, {"format": kind, "size": [width, height], "mode": mode, "bytes": len(data),
                  "bits_per_pixel": round(len(data) * 8 / (width * height), 3), "save_kwargs": save,
                  "sha256": hashlib.sha256(data).hexdigest(), "generated": f"bench/corpus.py, seed {SEED}"}


def generate(folder: Path, names: list[str] | None = None, scale: float = 1.0) -> Path:
    """Write the corpus (or `names` of it) into folder, with a manifest like the shared one's."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for name in names or list(FILES):
        data, entry = encode(name, scale, np.random.default_rng([SEED, list(FILES).index(name)]))
        (folder / name).write_bytes(data)
        manifest[name] = entry
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?", default=GENERATED)
    parser.add_argument("--scale", type=float, default=1.0, help="side length factor (small corpora for tests)")
    parser.add_argument("--only", default="", help="comma-separated file names (default: all)")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name] or None
    unknown = [name for name in names or [] if name not in FILES]
    if unknown:
        parser.error(f"unknown corpus files {unknown}; known: {', '.join(FILES)}")
    generate(args.folder, names, args.scale)
    for name, entry in json.loads((args.folder / MANIFEST).read_text()).items():
        print(f"{name}: {entry['size'][0]}x{entry['size'][1]} {entry['bytes']} bytes, {entry['bits_per_pixel']} bpp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
