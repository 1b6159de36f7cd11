"""Real photographs for frame tests: the images bundled in scikit-image's wheel, cut into patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "brick.png",
          "grass.png", "gravel.png", "camera.png", "coins.png")


def load_photos() -> list[np.ndarray]:
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    out = []
    for name in PHOTOS:
        with Image.open(data / name) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def patches(photos: list[np.ndarray], n: int, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """``n`` random square crops (side 1-2x ``size``, from a random photo) resized to ``size``."""
    from PIL import Image

    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = int(min(h, w, rng.integers(size, 2 * size + 1)))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(photo[y:y + side, x:x + side])
        out[i] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))
    return out
