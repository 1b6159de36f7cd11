"""Per-frame image statistics that explain embedding drift in image terms (NumPy only, vectorised per batch).

All statistics are computed on the frames as the model sees them (after resizing to the input size), on
the 0-255 grey-level scale, so a reference and a batch from cameras of different resolutions compare fairly.
"""

from __future__ import annotations

import numpy as np

# Name -> (words when the statistic falls, words when it rises). Order is the report order.
IMAGE_STATS: dict[str, tuple[str, str]] = {
    "brightness": ("darker", "brighter"),
    "contrast": ("lower contrast", "higher contrast"),
    "sharpness": ("blurrier", "sharper"),
    "noise": ("less noisy", "noisier"),
    "colourfulness": ("less colourful", "more colourful"),
}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as JPEG and Pillow use
# Immerkaer (1996), "Fast noise variance estimation": the mask is the difference of two Laplacians, which
# cancels image structure to first order, so what is left is mostly noise.
_NOISE_SCALE = np.sqrt(np.pi / 2) / 6


# Opponent colour channels for colourfulness, each as one matrix-vector product into a contiguous plane:
# slicing channels out of interleaved pixels, or reducing over a last axis of 2, is many times slower.
_RG = np.array([1.0, -1.0, 0.0], dtype=np.float32)
_YB = np.array([0.5, 0.5, -1.0], dtype=np.float32)


def image_statistics(frames: np.ndarray, chunk: int = 32) -> dict[str, np.ndarray]:
    """Statistics per frame of (N, H, W, 3) uint8 frames (H, W >= 3): one float64 array per name."""
    n = frames.shape[0]
    out = {name: np.empty(n) for name in IMAGE_STATS}
    for start in range(0, n, chunk):
        part = frames[start:start + chunk].astype(np.float32)
        sl = slice(start, start + part.shape[0])
        y = part @ _LUMA  # (k, H, W)
        out["brightness"][sl] = y.mean(axis=(1, 2))
        out["contrast"][sl] = y.std(axis=(1, 2))
        c = y[:, 1:-1, 1:-1]
        lap = y[:, :-2, 1:-1] + y[:, 2:, 1:-1]
        lap += y[:, 1:-1, :-2]
        lap += y[:, 1:-1, 2:]
        lap -= 4 * c
        out["sharpness"][sl] = lap.var(axis=(1, 2))
        # Immerkaer's mask [[1,-2,1],[-2,4,-2],[1,-2,1]] = diagonals - 2 * (edge neighbours) + 4 * centre
        # = diagonals - 2 * laplacian - 4 * centre.
        resp = y[:, :-2, :-2] + y[:, :-2, 2:]
        resp += y[:, 2:, :-2]
        resp += y[:, 2:, 2:]
        resp -= 2 * lap
        resp -= 4 * c
        np.abs(resp, out=resp)
        out["noise"][sl] = _NOISE_SCALE * resp.mean(axis=(1, 2))
        # Hasler & Suesstrunk (2003) colourfulness on opponent channels.
        rg, yb = part @ _RG, part @ _YB
        out["colourfulness"][sl] = (np.sqrt(rg.var(axis=(1, 2)) + yb.var(axis=(1, 2)))
                                    + 0.3 * np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2))
    return out


def relative_change(reference: np.ndarray, batch: np.ndarray) -> float:
    """Change of the mean, relative to the reference mean. (Not the median: when many reference frames are
    grey, the median colourfulness is 0 and every change would be infinite.)"""
    r = float(np.mean(reference))
    b = float(np.mean(batch))
    if abs(r) < 1e-12:
        return 0.0 if abs(b) < 1e-12 else float("inf")
    return b / r - 1.0
