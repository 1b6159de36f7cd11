"""Synthetic camera frames for the simulator, the demo and the tests (NumPy only; Pillow to write images).

Scenes are procedural but not trivial: a lit gradient background, low-frequency shading, a textured ground,
several coloured objects with hard edges and striped or checked surfaces, and a little sensor noise. That
gives a feature extractor texture, edges and colour to respond to, so embedding drift means something.
Corruptions are the ways real cameras fail: defocus blur, sensor noise, low light, a colour cast, occlusion.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

CORRUPTIONS = ("blur", "noise", "low_light", "colour_cast", "occlusion")
FRAME_SCENARIOS = ("healthy", *CORRUPTIONS)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return yy, xx


def scene(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One procedural RGB frame (size x size x 3, uint8)."""
    yy, xx = _grid(size)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.clip((np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) + 0.5, 0, 1)
    c0, c1 = rng.uniform(40, 220, 3).astype(np.float32), rng.uniform(40, 220, 3).astype(np.float32)
    # Low-frequency shading (uneven light) over the gradient.
    fx, fy, ph = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 2 * np.pi)
    shade = 0.85 + 0.15 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
    img = (c0 + (c1 - c0) * t[..., None]) * shade[..., None]
    # A textured lower part (a floor or road).
    top = int(rng.uniform(0.45, 0.75) * size)
    freq = rng.uniform(12, 30)
    gx, gy = xx[top:], yy[top:] - top / size
    tex = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * freq * gx) * np.sin(2 * np.pi * freq * gy))
    img[top:] = rng.uniform(30, 160, 3).astype(np.float32) * (0.7 + 0.3 * tex[..., None])
    for _ in range(int(rng.integers(3, 8))):
        cx, cy = rng.uniform(0.1, 0.9, 2)
        rx, ry = rng.uniform(0.05, 0.22, 2)
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        # Only the object's bounding box is touched.
        y0, y1 = max(0, int((cy - ry) * size)), min(size, int((cy + ry) * size) + 1)
        x0, x1 = max(0, int((cx - rx) * size)), min(size, int((cx + rx) * size) + 1)
        bx, by = xx[y0:y1, x0:x1], yy[y0:y1, x0:x1]
        if rng.random() < 0.5:
            mask = (np.abs(bx - cx) < rx) & (np.abs(by - cy) < ry)
        else:
            mask = ((bx - cx) / rx) ** 2 + ((by - cy) / ry) ** 2 < 1
        pattern = rng.integers(0, 3)
        if pattern == 1:  # stripes
            f = rng.uniform(15, 40)
            obj_shade = 0.75 + 0.25 * np.sign(np.sin(2 * np.pi * f * (bx + by)))
        elif pattern == 2:  # checks
            f = rng.uniform(8, 20)
            obj_shade = 0.7 + 0.3 * ((np.floor(bx * f) + np.floor(by * f)) % 2)
        else:
            obj_shade = np.ones_like(bx)
        box = img[y0:y1, x0:x1]
        box[mask] = (colour * obj_shade[..., None])[mask]
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def gaussian_blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (N, H, W, C) frames over height and width, edges reflected."""
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(frames.astype(np.float32), sigma=(0, sigma, sigma, 0), mode="reflect", truncate=3.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def corrupt(frames: np.ndarray, kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    """Apply one camera failure at ``severity`` in (0, 1] to a batch of uint8 frames."""
    if kind == "healthy" or severity <= 0:
        return frames
    x = frames.astype(np.float32)
    if kind == "blur":
        # Defocus relative to the frame: sigma 3 px on a 128 px frame at severity 1, 5.25 px at 224 px.
        return gaussian_blur(frames, (0.5 + 2.5 * severity) * frames.shape[1] / 128)
    if kind == "noise":
        x += rng.normal(0, 30 * severity, x.shape)
    elif kind == "low_light":
        # Less light: darker and flatter, with the gamma a camera's auto-exposure gives up on.
        x = 255 * (x / 255) ** (1 + 1.2 * severity) * (1 - 0.6 * severity)
    elif kind == "colour_cast":
        x *= np.array([1 + 0.35 * severity, 1.0, 1 - 0.35 * severity], dtype=np.float32)
    elif kind == "occlusion":
        n, h, w = x.shape[:3]
        side = int(round(np.sqrt(0.35 * severity) * h))
        for i in range(n):
            y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            x[i, y0:y0 + side, x0:x0 + side] = rng.uniform(0, 40)
    else:
        raise ValueError(f"unknown corruption {kind!r}; choose from {', '.join(CORRUPTIONS)}")
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def frame_batch(n: int, rng: np.random.Generator, size: int = 128, kind: str = "healthy",
                severity: float = 1.0) -> np.ndarray:
    frames = np.stack([scene(rng, size) for _ in range(n)])
    return corrupt(frames, kind, severity, rng)


def write_frame_dir(directory: Path, name: str, frames: np.ndarray, fmt: str = "png") -> Path:
    """Write a batch as a directory of images with the producer pattern: fill a hidden directory, add the
    ``_READY`` marker, then rename it into place, so a watcher never sees half a batch."""
    from PIL import Image

    directory = Path(directory)
    tmp = directory / f".{name}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp / f"frame_{i:04d}.{fmt}", **({"quality": 92} if fmt == "jpg" else {}))
    (tmp / "_READY").touch()
    final = directory / name
    os.replace(tmp, final)
    return final


def write_frame_array(directory: Path, name: str, frames: np.ndarray) -> Path:
    """Write a batch as one ``.npy`` array (N, H, W, 3) uint8, atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.npy.tmp"
    with open(tmp, "wb") as fh:
        np.save(fh, frames, allow_pickle=False)
    final = directory / f"{name}.npy"
    os.replace(tmp, final)
    return final


def write_reference_frames(directory: Path, frames: int = 512, size: int = 128, seed: int = 0) -> Path:
    """Healthy reference frames (seeded apart from the stream) as one .npy array in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_frame_array(directory, "reference", frame_batch(frames, np.random.default_rng(seed + 10_000), size))
    return directory


def run_frame_simulation(directory: Path, scenario: str = "healthy", batches: int = 10, frames: int = 64,
                         size: int = 128, rate: float = 0.0, drift_after: int = 0, seed: int = 0,
                         fmt: str = "png", severity: float = 1.0, reference: Path | None = None,
                         stop: threading.Event | None = None) -> list[Path]:
    """Write ``batches`` frame batches named ``frames_NNNNN`` (directories of images, or ``.npy``); the
    corruption starts after ``drift_after`` healthy batches."""
    from sentinel_tui.simulate.tabular import pace

    if scenario not in FRAME_SCENARIOS:
        raise ValueError(f"unknown frame scenario {scenario!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if reference is not None:
        write_reference_frames(reference, size=size, seed=seed)
    rng = np.random.default_rng(seed)
    existing = sorted(p.name for p in directory.glob("frames_*"))
    first = int(existing[-1].split("_")[-1].split(".")[0]) + 1 if existing else 0
    written = []
    for i in range(batches):
        kind = scenario if i >= drift_after else "healthy"
        batch = frame_batch(frames, rng, size, kind, severity)
        name = f"frames_{first + i:05d}"
        written.append(write_frame_array(directory, name, batch) if fmt == "npy"
                       else write_frame_dir(directory, name, batch, fmt))
        if pace(i, batches, rate, stop):
            break
    return written
