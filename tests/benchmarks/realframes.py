"""Real photographs for the frame detection benchmark: scikit-image's bundled images cut into patches, and the
camera failures of the grid (blur, darkening, flattening, JPEG artefacts, content the reference never showed).

The first seven photographs make the reference and the healthy batches; the last three are "unseen content".
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from sentinel_tui.simulate.frame_batches import gaussian_blur
from tests.photos import load_photos, patches

Failure = Callable[[np.ndarray], np.ndarray]


def _scaled(frames: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(frames.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


def _contrast(frames: np.ndarray, factor: float) -> np.ndarray:
    x = frames.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(mean + factor * (x - mean) + 0.5, 0, 255).astype(np.uint8)


def _jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as im:
            out[i] = np.asarray(im.convert("RGB"))
    return out


def failures() -> dict[str, Failure]:
    """Name -> failure. Blur sigmas are in pixels of the patch, whatever its size."""
    return {
        "blur sigma 1": lambda f: gaussian_blur(f, 1.0),
        "blur sigma 2": lambda f: gaussian_blur(f, 2.0),
        "darker x0.5": lambda f: _scaled(f, 0.5),
        "contrast x0.5": lambda f: _contrast(f, 0.5),
        "JPEG quality 10": lambda f: _jpeg(f, 10),
    }


class PhotoStream:
    """Patches of ``size`` px from the seen photographs (reference, healthy and failed batches) or the unseen
    ones."""

    def __init__(self, size: int):
        photos = load_photos()
        self.seen, self.unseen = photos[:7], photos[7:]
        self.size = size

    def reference(self, n: int, seed: int = 0) -> np.ndarray:
        return patches(self.seen, n, np.random.default_rng(seed), self.size)

    def batch(self, n: int, rng: np.random.Generator, unseen: bool = False) -> np.ndarray:
        return patches(self.unseen if unseen else self.seen, n, rng, self.size)
