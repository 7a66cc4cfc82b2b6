"""PSNR and SSIM of a thumbnail against a reference, with numpy only.

SSIM follows Wang et al. 2004 (the reference formulation, also scikit-image's with
gaussian_weights=True): an 11-tap Gaussian window with sigma 1.5, K1=0.01, K2=0.03,
L=255, computed per channel over the valid region and averaged.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_SIGMA = 1.5
_TAPS = 11
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def comparable(image: Image.Image) -> np.ndarray:
    """Pixels as float64 HxWxC. Alpha images are compared premultiplied (plus alpha):
    the colour under a transparent pixel is invisible, so differences there do not count."""
    if image.mode in ("RGBA", "LA"):
        premultiplied = np.asarray(image.convert("RGBa"), dtype=np.float64)
        return premultiplied
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def psnr(ours: Image.Image, reference: Image.Image) -> float:
    a, b = comparable(ours), comparable(reference)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _gaussian_window() -> np.ndarray:
    x = np.arange(_TAPS) - _TAPS // 2
    kernel = np.exp(-(x**2) / (2 * _SIGMA**2))
    return kernel / kernel.sum()


def _filter(channel: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 'valid' convolution: rows, then columns."""
    rows = np.apply_along_axis(np.convolve, 1, channel, kernel, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid")


def ssim(ours: Image.Image, reference: Image.Image) -> float:
    a, b = comparable(ours), comparable(reference)
    if min(a.shape[:2]) < _TAPS:
        raise ValueError(f"images smaller than the {_TAPS}-pixel SSIM window")
    kernel = _gaussian_window()
    scores = []
    for c in range(a.shape[2]):
        x, y = a[..., c], b[..., c]
        mx, my = _filter(x, kernel), _filter(y, kernel)
        vx = _filter(x * x, kernel) - mx * mx
        vy = _filter(y * y, kernel) - my * my
        cxy = _filter(x * y, kernel) - mx * my
        index = ((2 * mx * my + _C1) * (2 * cxy + _C2)) / ((mx**2 + my**2 + _C1) * (vx + vy + _C2))
        scores.append(float(index.mean()))
    return float(np.mean(scores))
