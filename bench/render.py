#!/usr/bin/env python3
"""Render benchmark: our render vs pyvips thumbnail_buffer vs naive Pillow, per corpus file.

    .venv/bin/python bench/render.py                 # the corpus bench/corpus.py finds, 9 timed rounds
    .venv/bin/python bench/render.py --corpus PATH   # any folder of images

Single thread, in process, on the production entry point (core.render.render). Engines run in
turn within each round, so machine noise hits them alike; medians are reported. Quality:
PSNR/SSIM of our thumbnail, rendered as lossless PNG and read back, against Pillow LANCZOS from
the full decode. Peak RSS: each engine renders the 24 MP file once in a fresh subprocess
(VmHWM; see _peak_rss_mib).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("VIPS_CONCURRENCY", "1")

import corpus  # noqa: E402
import engines  # noqa: E402
import quality  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from core.formats import INPUT_EXTENSIONS  # noqa: E402
from core.outputs import OutputSpec  # noqa: E402
from core.render import render  # noqa: E402

RSS_FILE = "jpeg_24mp_baseline.jpg"
# The default output's box and fit, written losslessly: the thumbnail's pixels as rendered.
LOSSLESS = (OutputSpec(format="png"),)


def time_engines(data: bytes, engine_set: dict, rounds: int) -> dict[str, float]:
    """Median milliseconds per engine; one warm-up call each, then rounds taken in turn."""
    samples: dict[str, list[float]] = {name: [] for name in engine_set}
    for engine in engine_set.values():
        engine(data)
    for round_number in range(rounds):
        names = list(engine_set)
        names = names[round_number % len(names):] + names[:round_number % len(names)]
        for name in names:
            started = time.perf_counter()
            engine_set[name](data)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_quality(data: bytes) -> tuple[float, float]:
    """Our lossless output vs LANCZOS from the full decode, at our size and orientation."""
    [thumbnail] = render(data, LOSSLESS)
    ours = Image.open(io.BytesIO(thumbnail.data))
    full = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if full.mode not in ("RGB", "RGBA", "L", "LA"):
        full = full.convert("RGBA" if "A" in full.mode else "RGB")
    reference = full.resize(ours.size, Image.Resampling.LANCZOS)
    return quality.psnr(ours, reference), quality.ssim(ours, reference)


def peak_rss_mib(engine: str, path: Path) -> tuple[float, float]:
    """(after imports, after one render) peak RSS of a fresh process, in MiB."""
    output = subprocess.run([sys.executable, __file__, "--rss-child", engine, str(path)],
                            check=True, capture_output=True, text=True).stdout
    before, after = json.loads(output)
    return before, after


def _peak_rss_mib() -> float:
    """This process's peak RSS. Linux carries getrusage's ru_maxrss over from the parent
    across fork and exec, so a child of a big benchmark process would report the parent's
    peak; VmHWM in /proc belongs to the process's own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_child(engine: str, path: str) -> None:
    engine_fn = engines.get(engine)
    data = Path(path).read_bytes()
    before = _peak_rss_mib()
    engine_fn(data)
    print(json.dumps([before, _peak_rss_mib()]))


# issue 13's targets: ours ÷ pyvips per input format, and the least PSNR against full-decode LANCZOS.
PNG_TARGET = 1.2
OTHER_TARGET = 1.0
MIN_PSNR_DB = 45.0


def target_for(path: Path) -> float:
    return PNG_TARGET if path.suffix.lower() == ".png" else OTHER_TARGET


def _fmt(value: float | None, pattern: str = "{:.1f}") -> str:
    return "—" if value is None else pattern.format(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    corpus.add_argument(parser)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--only", default="", help="substring of the file names to run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--rss-child", nargs=2, metavar=("ENGINE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        _rss_child(*args.rss_child)
        return 0

    args.corpus = corpus.resolve(args.corpus)
    engine_set = {name: fn for name in engines.NAMES if (fn := engines.get(name)) is not None}
    if "pyvips" not in engine_set:
        print("pyvips is not installed (pip install -e '.[bench]'); its columns stay empty", file=sys.stderr)
    files = sorted(p for p in args.corpus.iterdir() if p.suffix.lower() in INPUT_EXTENSIONS and args.only in p.name)
    results = []
    print("| file | ours ms | pyvips ms | naive Pillow ms | ours ÷ pyvips | naive ÷ pyvips | target | PSNR dB | SSIM |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in files:
        data = path.read_bytes()
        times = time_engines(data, engine_set, args.rounds)
        psnr, ssim = measure_quality(data)
        vips = times.get("pyvips")
        ratio = times["ours"] / vips if vips else None
        naive_ratio = times["naive"] / vips if vips else None
        results.append({"file": path.name, **{f"{k}_ms": v for k, v in times.items()},
                        "ratio": ratio, "naive_ratio": naive_ratio, "target": target_for(path),
                        "psnr_db": psnr, "ssim": ssim})
        ok = "" if ratio is None else (" ✓" if ratio <= target_for(path) else " ✗")
        print(f"| {path.name} | {times['ours']:.1f} | {_fmt(vips)} | {times['naive']:.1f} | "
              f"{_fmt(ratio, '{:.2f}')}{ok} | {_fmt(naive_ratio, '{:.2f}')} | ≤ {target_for(path)} | "
              f"{psnr:.1f}{' ✓' if psnr >= MIN_PSNR_DB else ' ✗'} | {ssim:.4f} |", flush=True)

    rss_path = args.corpus / RSS_FILE
    if not rss_path.exists() and files:
        rss_path = max(files, key=lambda p: p.stat().st_size)
    rss = {}
    if files:
        print(f"\nPeak RSS rendering {rss_path.name} once, fresh process per engine (MiB):\n")
        print("| engine | after imports | peak after one render | growth |")
        print("|---|---:|---:|---:|")
        for name in engine_set:
            before, after = peak_rss_mib(name, rss_path)
            rss[name] = {"imports_mib": before, "peak_mib": after}
            print(f"| {name} | {before:.0f} | {after:.0f} | {after - before:.0f} |", flush=True)
        if "pyvips" in rss:
            print(f"\nours ÷ pyvips peak RSS: {rss['ours']['peak_mib'] / rss['pyvips']['peak_mib']:.2f} (target ≤ 1.5)")
    if args.json:
        args.json.write_text(json.dumps({"files": results, "rss": rss}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
