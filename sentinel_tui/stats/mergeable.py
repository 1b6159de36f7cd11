"""Statistics that merge: computed on parts of a table (files, row groups, a cluster's partitions) and combined
associatively into what one pass over the whole table would give.

- Moments: count, mean and the sum of squared deviations, merged with Chan et al.'s parallel update (exact up to
  floating-point rounding, whatever the grouping).
- Quantiles: Apache DataSketches' KLL sketch (``datasketches``, the ``dask`` extra). With ``KLL_K`` = 1000 the
  rank of a returned quantile is within 0.28% of the asked rank (0.36% for a bin's share) with 99% confidence,
  whatever the data and the number of merges (``rank_error``).
- Sample: the rows with the smallest seeded keys (bottom-k). A row's key is a hash of (its file within the
  dataset, its index in that file), so the sample is uniform and the same however the files are split into
  partitions, and the same as the local engine's from the same files.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

KLL_K = 1000
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Steele, Lea and Flood's SplitMix64 finaliser, vectorised (a bijection of uint64 with full avalanche)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def row_keys(seed: int, part: str, start: int, count: int) -> np.ndarray:
    """Keys of rows ``start .. start + count - 1`` of the file ``part`` (its path inside the dataset; "" for a
    single file): uniform 64-bit values, a function of (seed, part, row index) only."""
    salt = np.uint64((zlib.crc32(part.encode()) << 32) ^ (seed & 0xFFFFFFFF))
    idx = np.arange(start, start + count, dtype=np.uint64)
    return _splitmix64(idx ^ _splitmix64(np.array([salt], dtype=np.uint64))[0])


def bottom_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest keys, in increasing key order."""
    if keys.size <= k:
        return np.argsort(keys, kind="stable")
    part = np.argpartition(keys, k - 1)[:k]
    return part[np.argsort(keys[part], kind="stable")]


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of finite values, plus min and max."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")

    @classmethod
    def of(cls, finite: np.ndarray) -> Moments:
        if finite.size == 0:
            return cls()
        mean = float(finite.mean())
        return cls(int(finite.size), mean, float(((finite - mean) ** 2).sum()), float(finite.min()),
                   float(finite.max()))

    def merge(self, other: Moments) -> Moments:
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * other.n / n, self.m2 + other.m2 + delta * delta * self.n * other.n / n,
                       min(self.min, other.min), max(self.max, other.max))

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / (self.n - 1))) if self.n > 1 else 0.0


def merge_counts(a: dict | None, b: dict | None, cap: int) -> dict | None:
    """Exact value counts, or None once more than ``cap`` distinct values exist (then they are not needed:
    the column has too many values to be treated as categories)."""
    if a is None or b is None:
        return None
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out if len(out) <= cap else None


def kll(values: np.ndarray | None = None, k: int = KLL_K):
    from datasketches import kll_doubles_sketch

    sketch = kll_doubles_sketch(k)
    if values is not None and values.size:
        sketch.update(np.ascontiguousarray(values, dtype=np.float64))
    return sketch


def kll_bytes(values: np.ndarray) -> bytes:
    return kll(values).serialize()


def kll_merge(a: bytes, b: bytes) -> bytes:
    from datasketches import kll_doubles_sketch

    left = kll_doubles_sketch.deserialize(a)
    left.merge(kll_doubles_sketch.deserialize(b))
    return left.serialize()


def kll_load(blob: bytes):
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch.deserialize(blob)


def rank_error(k: int = KLL_K, pmf: bool = False) -> float:
    """The sketch's documented normalised rank error (99% confidence)."""
    return float(kll(k=k).normalized_rank_error(pmf))
