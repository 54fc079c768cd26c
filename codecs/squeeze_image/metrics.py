"""Image quality metrics: PSNR and MS-SSIM of 8-bit pictures (numpy only).

The encoder's slower levels (7-9, ``FrappeCodec``) score their candidate
reconstructions with these; the image benchmark (``squeeze bench --suite image``)
and the training script measure with the same functions, so what the encoder
optimises is what the benchmark reports.

MS-SSIM follows pytorch-msssim's definition: Gaussian window of 11 taps, sigma 1.5,
'valid' filtering, five scales with weights 0.0448 / 0.2856 / 0.3001 / 0.2363 /
0.1333, 2x2 average pooling between scales (odd sides padded), negative contrast
terms clamped to 0, computed per channel and averaged.
"""

from __future__ import annotations

import numpy as np

MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
#: the smallest side MS-SSIM is defined for: the window must fit the fifth scale
MS_SSIM_MIN_SIDE = (11 - 1) * 2 ** 4 + 1


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays of the same shape (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _gauss(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    c = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(c ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filt(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (C, H, W) along H then W."""
    k = g.size
    h = x.shape[1] - k + 1
    y = sum(g[i] * x[:, i:i + h, :] for i in range(k))
    w = x.shape[2] - k + 1
    return sum(g[i] * y[:, :, i:i + w] for i in range(k))


def _ssim(x, y, g, data_range=255.0):
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu1, mu2 = _filt(x, g), _filt(y, g)
    s11 = _filt(x * x, g) - mu1 * mu1
    s22 = _filt(y * y, g) - mu2 * mu2
    s12 = _filt(x * y, g) - mu1 * mu2
    cs_map = (2 * s12 + c2) / (s11 + s22 + c2)
    ssim_map = ((2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1)) * cs_map
    return ssim_map.mean(axis=(1, 2)), cs_map.mean(axis=(1, 2))


def _pool2(x: np.ndarray) -> np.ndarray:
    """avg_pool2d(kernel 2, stride 2, padding = size % 2, count_include_pad) per channel."""
    ph, pw = x.shape[1] % 2, x.shape[2] % 2
    if ph or pw:
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    h, w = x.shape[1] // 2, x.shape[2] // 2
    x = x[:, :2 * h, :2 * w]
    return 0.25 * (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2])


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two (H, W, C) uint8 images (C = 3 for RGB, 1 for grey); ValueError
    when a side is shorter than ``MS_SSIM_MIN_SIDE``."""
    x = a.astype(np.float64).transpose(2, 0, 1)
    y = b.astype(np.float64).transpose(2, 0, 1)
    g = _gauss()
    if min(x.shape[1:]) < MS_SSIM_MIN_SIDE:
        raise ValueError("MS-SSIM needs images larger than 160 pixels per side")
    mcs = []
    for i in range(len(MS_WEIGHTS)):
        ssim_pc, cs = _ssim(x, y, g)
        if i < len(MS_WEIGHTS) - 1:
            mcs.append(np.maximum(cs, 0))
            x, y = _pool2(x), _pool2(y)
    vals = np.stack(mcs + [np.maximum(ssim_pc, 0)])  # (levels, C)
    return float(np.prod(vals ** MS_WEIGHTS[:, None], axis=0).mean())
