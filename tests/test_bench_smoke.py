"""The benchmarks still run (tiny sizes, generated images; no timings are checked), and find
their corpus in one way: a missing --corpus is named, and a clean clone can make its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from bench import corpus
from bench.cost import usd_per_million
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


@pytest.mark.parametrize("script", ["bench/render.py", "bench/e2e.py", "bench/cost.py", "bench/s3_cost.py"])
def test_every_benchmark_names_a_missing_corpus(tmp_path, script):
    missing = tmp_path / "no-corpus"
    result = subprocess.run([sys.executable, script, "--corpus", str(missing)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"no corpus folder at {missing}" in result.stderr and "--corpus" in result.stderr


def test_a_corpus_lacking_a_needed_file_is_named(tiny_corpus):
    result = subprocess.run([sys.executable, "bench/e2e.py", "--corpus", str(tiny_corpus), "--inputs", "12mp"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "lacks jpeg_12mp_baseline.jpg" in result.stderr


def test_a_generated_corpus_has_the_shared_names_sizes_and_formats(tmp_path):
    names = ["jpeg_12mp_exif6.jpg", "png_2000x2000_rgba.png", "webp_2000x1500.webp"]
    corpus.generate(tmp_path, names, scale=0.05)
    manifest = json.loads((tmp_path / corpus.MANIFEST).read_text())
    assert sorted(manifest) == sorted(names)
    for name in names:
        width, height, mode, kind, _ = corpus.FILES[name]
        with Image.open(tmp_path / name) as image:
            assert (image.format, image.mode) == (kind, mode)
            assert image.size == (round(width * 0.05), round(height * 0.05)) == tuple(manifest[name]["size"])
    with Image.open(tmp_path / "jpeg_12mp_exif6.jpg") as image:
        assert image.getexif()[corpus.EXIF_ORIENTATION] == 6
    assert corpus.resolve(tmp_path, names) == tmp_path


def test_generated_pixels_look_photographic_not_flat_or_noise():
    """Smooth at large scale, detailed at small: neighbours correlate, and the values spread."""
    pixels = corpus.pixels(256, 192, 3, corpus.np.random.default_rng(1)).astype(float)
    assert pixels.std() > 20
    neighbours = corpus.np.corrcoef(pixels[:, :-1, 0].ravel(), pixels[:, 1:, 0].ravel())[0, 1]
    assert 0.5 < neighbours < 0.999


def test_without_a_corpus_path_the_shared_one_or_a_generated_one_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "SHARED", tmp_path / "absent")
    monkeypatch.setattr(corpus, "GENERATED", tmp_path / "generated")
    monkeypatch.setattr(corpus, "FILES", {"jpeg_fullhd_1920x1080.jpg": (64, 36, "RGB", "JPEG", {"quality": 90})})
    assert corpus.resolve(None, ["jpeg_fullhd_1920x1080.jpg"]) == tmp_path / "generated"
    assert (tmp_path / "generated" / "jpeg_fullhd_1920x1080.jpg").is_file()
    monkeypatch.setattr(corpus, "SHARED", tmp_path / "generated")
    assert corpus.resolve(None, ["jpeg_fullhd_1920x1080.jpg"]) == tmp_path / "generated"


def test_request_prices_per_million_jobs():
    """PUT-tier S3 requests at $0.005 per 1,000, GET-tier at $0.0004, deletes free; SQS $0.40 per million."""
    per_job = {"s3:PutObject": 2, "s3:ListObjectsV2": 0.5, "s3:GetObject": 3, "s3:HeadObject": 1,
               "s3:DeleteObject": 1, "sqs:SendMessage": 1, "sqs:ReceiveMessage": 1.5}
    usd = usd_per_million(per_job)
    assert usd["s3"] == pytest.approx(2.5 * 5 + 4 * 0.4)
    assert usd["sqs"] == pytest.approx(2.5 * 0.4)


def test_cost_benchmark_runs_on_the_embedded_backends(tiny_corpus):
    output = run("bench/cost.py", "--corpus", str(tiny_corpus), "--backends", "embedded", "--inputs", "1080p",
                 "--jobs", "3", "--warmup", "1", "--clients", "2", "--thumbnailers", "1", "--render-seconds", "0.3",
                 "--timeout", "60")
    assert "| 1080p | embedded |" in output and "object store" in output


def test_e2e_benchmark_runs(tiny_corpus, servers):  # the real stack: MinIO and ElasticMQ
    output = run("bench/e2e.py", "--corpus", str(tiny_corpus), "--inputs", "1080p", "--jobs", "3",
                 "--thumbnailers", "1", "--clients", "2", "--phases", "throughput,uploads",
                 "--upload-sizes", "0.1", "--upload-rounds", "1", "--render-seconds", "0.5", "--timeout", "60")
    assert "| 1080p | 3 | 1 | 2 |" in output
    assert "| 0.1 MB | 10 |" in output
