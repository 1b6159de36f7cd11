"""The frame part of a baseline: reference embeddings (PCA and a bounded sample), image statistics, the
model's identity and, in ``embedder.npz``, the exact weights the reference was embedded with.

Stored as NPZ (``allow_pickle=False`` on load), never pickle. Keeping the weights in the baseline makes it
self-contained: a seeded random initialisation is not reproducible across TensorFlow/Keras versions, and a
Keras cache can change, but the weights in the baseline cannot (their sha256 is checked on load).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sentinel_tui.frames.imagestats import IMAGE_STATS
from sentinel_tui.stats.multivariate import PCA, BlockPCA
from sentinel_tui.stats.univariate import SortedReference

FRAMES_FILE = "frames.npz"
WEIGHTS_FILE = "embedder.npz"


def weights_sha256(weights: list[np.ndarray]) -> str:
    """A digest of the weight values themselves (shape, dtype and bytes, in order), whatever file held them."""
    h = hashlib.sha256()
    for w in weights:
        a = np.ascontiguousarray(w)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class FrameEmbedder(Protocol):
    """What the embeddings check caches on a loaded reference: its verified model (``frames.embedder.Embedder``,
    which this data layer does not import: it is the only module that imports TensorFlow)."""

    def embed(self, frames: np.ndarray) -> np.ndarray: ...


@dataclass
class FrameReference:
    meta: dict[str, Any]  # frames, input_size, model {name, weights, weights_sha256, ...}, preprocessing, ...
    pca: BlockPCA  # one PCA per depth of the network (a single block for baselines of one pooled layer)
    projections: np.ndarray  # (R, k) reference embeddings in PCA space
    embedding_mean: np.ndarray  # (d,) over all reference frames
    embedding_sample: np.ndarray  # (<= cap, d) for the mean-distance calibration
    image_stats: dict[str, np.ndarray]  # name -> (R,)
    weights: list[np.ndarray] | None = None  # in memory when just built; else read from ``weights_path``
    weights_path: Path | None = None
    embedder: FrameEmbedder | None = None  # cached by the embeddings check (one weights hash per load)
    cache: dict[str, float] = field(default_factory=dict)  # derived figures, e.g. distance nulls per batch size
    _sorted: dict[str, SortedReference] = field(default_factory=dict, repr=False)

    @property
    def input_size(self) -> int:
        return int(self.meta["input_size"])

    @property
    def weights_sha(self) -> str:
        return str(self.meta["model"]["weights_sha256"])

    def sorted_component(self, j: int) -> SortedReference:
        key = f"c{j}"
        if key not in self._sorted:
            self._sorted[key] = SortedReference.from_values(self.projections[:, j])
        return self._sorted[key]

    def sorted_stat(self, name: str) -> SortedReference:
        if name not in self._sorted:
            self._sorted[name] = SortedReference.from_values(self.image_stats[name])
        return self._sorted[name]

    def load_weights(self) -> list[np.ndarray]:
        if self.weights is None:
            if self.weights_path is None:
                raise ValueError("this frame reference has no weights")
            with np.load(self.weights_path, allow_pickle=False) as z:
                self.weights = [z[k] for k in sorted(z.files)]
        return self.weights


def save_frames(ref: FrameReference, directory: Path) -> list[tuple[Path, Path]]:
    """Write the arrays to temporary files; returns (tmp, final) pairs for the caller to rename last."""
    arrays: dict[str, np.ndarray] = {"pca_bounds": np.asarray(ref.pca.bounds, dtype=np.int64),
                                     "projections": ref.projections.astype(np.float32),
                                     "embedding_mean": ref.embedding_mean,
                                     "embedding_sample": ref.embedding_sample.astype(np.float32)}
    for i, p in enumerate(ref.pca.blocks):
        arrays.update({f"pca{i}_mean": p.mean, f"pca{i}_components": p.components.astype(np.float32),
                       f"pca{i}_ratio": p.explained_variance_ratio})
    arrays.update({f"stat_{k}": v for k, v in ref.image_stats.items()})
    pairs = []
    tmp = directory / (FRAMES_FILE + ".tmp.npz")
    np.savez(tmp, **arrays)
    pairs.append((tmp, directory / FRAMES_FILE))
    weights = ref.load_weights()
    tmp_w = directory / (WEIGHTS_FILE + ".tmp.npz")
    np.savez(tmp_w, **{f"w{i:04d}": w for i, w in enumerate(weights)})
    pairs.append((tmp_w, directory / WEIGHTS_FILE))
    return pairs


def load_frames(meta: dict[str, Any], directory: Path) -> FrameReference:
    with np.load(directory / FRAMES_FILE, allow_pickle=False) as z:
        if "pca_bounds" in z.files:
            bounds = tuple(int(b) for b in z["pca_bounds"])
            pca = BlockPCA(tuple(PCA(mean=z[f"pca{i}_mean"], components=z[f"pca{i}_components"].astype(np.float64),
                                     explained_variance_ratio=z[f"pca{i}_ratio"]) for i in range(len(bounds) - 1)),
                           bounds)
        else:  # a baseline of one pooled layer (before several depths): one block
            one = PCA(mean=z["pca_mean"], components=z["pca_components"].astype(np.float64),
                      explained_variance_ratio=z["pca_ratio"])
            pca = BlockPCA((one,), (0, int(one.mean.shape[0])))
        stats = {k: z[f"stat_{k}"] for k in IMAGE_STATS if f"stat_{k}" in z.files}
        return FrameReference(meta=meta, pca=pca, projections=z["projections"].astype(np.float64),
                              embedding_mean=z["embedding_mean"],
                              embedding_sample=z["embedding_sample"].astype(np.float64),
                              image_stats=stats, weights_path=directory / WEIGHTS_FILE)
