"""Synthetic test pictures for the image codec's tests."""

from __future__ import annotations

import numpy as np


def wavy_image(h: int, w: int, seed: int) -> np.ndarray:
    """An (h, w, 3) uint8 picture: smooth waves, a different one per channel, plus
    Gaussian noise from ``seed`` (latents of every size and sign at any step)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 70 * np.sin(x * (0.02 + 0.03 * c) + y * 0.013 * (c + 1))
                    for c in range(3)], -1) + rng.normal(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)
