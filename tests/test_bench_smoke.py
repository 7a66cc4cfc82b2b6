"""The benchmarks still run (tiny sizes, generated images; no timings are checked)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import images
from tests.environment import ROOT


@pytest.fixture
def tiny_corpus(tmp_path):
    source = images.two_halves(640, 360)
    (tmp_path / "jpeg_fullhd_1920x1080.jpg").write_bytes(images.encode(source, "JPEG", quality=90))
    (tmp_path / "png_small_rgba.png").write_bytes(images.png_with_alpha(320, 240))
    return tmp_path


def run(*arguments: str) -> str:
    result = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_render_benchmark_runs(tiny_corpus):
    output = run("bench/render.py", "--corpus", str(tiny_corpus), "--rounds", "1")
    assert "| jpeg_fullhd_1920x1080.jpg |" in output and "| png_small_rgba.png |" in output
    assert "Peak RSS" in output


def test_render_benchmark_names_a_missing_corpus(tmp_path):
    missing = tmp_path / "no-corpus"
    result = subprocess.run([sys.executable, "bench/render.py", "--corpus", str(missing)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"no corpus folder at {missing}" in result.stderr and "--corpus" in result.stderr


def test_e2e_benchmark_runs(tiny_corpus, servers):  # the real stack: MinIO and ElasticMQ
    output = run("bench/e2e.py", "--corpus", str(tiny_corpus), "--inputs", "1080p", "--jobs", "3",
                 "--thumbnailers", "1", "--clients", "2", "--phases", "throughput,uploads",
                 "--upload-sizes", "0.1", "--upload-rounds", "1", "--render-seconds", "0.5", "--timeout", "60")
    assert "| 1080p | 3 | 1 | 2 |" in output
    assert "| 0.1 MB | 10 |" in output
