"""Multivariate two-sample statistics for embeddings: PCA (also per block), MMD with a permutation test, mean
distance.

Pure NumPy. Costs are bounded by the caller's sample caps: MMD is quadratic in the pooled sample size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCA:
    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d), rows orthonormal
    explained_variance_ratio: np.ndarray  # (k,)

    @classmethod
    def fit(cls, x: np.ndarray, k: int) -> PCA:
        x = np.asarray(x, dtype=np.float64)
        mean = x.mean(axis=0)
        # SVD of the centred data: no d x d covariance, exact, and fast for n of a few thousand.
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        k = max(1, min(k, vt.shape[0], x.shape[0] - 1))
        var = s ** 2
        total = var.sum()
        ratio = var[:k] / total if total > 0 else np.zeros(k)
        return cls(mean=mean, components=vt[:k].copy(), explained_variance_ratio=ratio)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T


@dataclass(frozen=True)
class BlockPCA:
    """One PCA per block of columns (the activations of one depth of a network), side by side: each block keeps
    its own leading directions, so a block with small activations (an early layer, which sees blur and light)
    is not drowned by a block with large ones in a single PCA."""

    blocks: tuple[PCA, ...]
    bounds: tuple[int, ...]  # the first column of each block, then the end

    @classmethod
    def fit(cls, x: np.ndarray, dims: list[int] | tuple[int, ...], k: int) -> BlockPCA:
        bounds = (0, *np.cumsum(dims).tolist())
        if bounds[-1] != x.shape[1]:
            raise ValueError(f"blocks of {list(dims)} columns do not cover {x.shape[1]}")
        return cls(tuple(PCA.fit(x[:, a:b], k) for a, b in zip(bounds, bounds[1:], strict=False)), bounds)

    @property
    def components(self) -> int:
        return sum(p.components.shape[0] for p in self.blocks)

    @property
    def explained_variance(self) -> float:
        """The mean, over blocks, of the share of each block's variance its components keep."""
        return float(np.mean([p.explained_variance_ratio.sum() for p in self.blocks]))

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.hstack([p.transform(x[:, a:b])
                          for p, a, b in zip(self.blocks, self.bounds, self.bounds[1:], strict=False)])


def median_bandwidth(z: np.ndarray) -> float:
    """The median heuristic: the median pairwise Euclidean distance of the pooled sample."""
    sq = _sq_dists(z)
    iu = np.triu_indices(z.shape[0], k=1)
    med = float(np.median(np.sqrt(sq[iu])))
    return med if med > 0 else 1.0


def _sq_dists(z: np.ndarray) -> np.ndarray:
    norms = np.einsum("ij,ij->i", z, z)
    sq = norms[:, None] + norms[None, :] - 2 * (z @ z.T)
    return np.maximum(sq, 0.0)


@dataclass(frozen=True)
class MMDResult:
    mmd2: float  # unbiased estimate of the squared MMD
    p_value: float
    bandwidth: float
    permutations: int
    n_reference: int
    n_batch: int


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = 100, seed: int = 0) -> MMDResult:
    """Unbiased MMD^2 with a Gaussian RBF kernel (median-heuristic bandwidth, as alibi-detect) and a
    permutation p-value. All permutations are evaluated at once with one kernel-matrix product."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m, n = x.shape[0], y.shape[0]
    z = np.concatenate([x, y])
    sq = _sq_dists(z)
    iu = np.triu_indices(z.shape[0], k=1)
    bandwidth = float(np.median(np.sqrt(sq[iu])))
    bandwidth = bandwidth if bandwidth > 0 else 1.0
    k = np.exp(-sq / (2 * bandwidth ** 2))
    np.fill_diagonal(k, 0.0)  # the unbiased estimator leaves out i == j
    rng = np.random.default_rng(seed)
    # Column 0 is the observed split; the others are random relabellings of the pooled sample.
    labels = np.zeros((m + n, permutations + 1))
    labels[:m, 0] = 1.0
    for j in range(1, permutations + 1):
        labels[rng.permutation(m + n)[:m], j] = 1.0
    ka = k @ labels  # (N, P): row sums of K restricted to each permutation's "reference" set
    total = k.sum()
    s_xx = np.einsum("ip,ip->p", labels, ka)
    s_x_all = ka.sum(axis=0)  # sum over i in all, j in X  (= sum over X rows of their full row sums)
    s_xy = s_x_all - s_xx
    s_yy = total - s_xx - 2 * s_xy
    stats = s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2 * s_xy / (m * n)
    observed = float(stats[0])
    p = (1 + int(np.sum(stats[1:] >= observed))) / (permutations + 1)
    return MMDResult(mmd2=observed, p_value=p, bandwidth=bandwidth, permutations=permutations,
                     n_reference=m, n_batch=n)


def mean_distance(reference_mean: np.ndarray, batch: np.ndarray) -> float:
    """Euclidean distance between the reference's and the batch's mean embedding."""
    return float(np.linalg.norm(np.asarray(batch, dtype=np.float64).mean(axis=0) - reference_mean))


def mean_distance_null(reference: np.ndarray, n: int, draws: int = 200, seed: int = 0,
                       quantile: float = 0.99) -> float:
    """The ``quantile`` of the mean distance between reference subsets of size ``n`` and the reference mean:
    what a healthy batch of that size reaches by chance (the calibration DESIGN.md asks for)."""
    reference = np.asarray(reference, dtype=np.float64)
    rng = np.random.default_rng(seed)
    mu = reference.mean(axis=0)
    n = max(1, min(n, reference.shape[0]))
    idx = np.stack([rng.choice(reference.shape[0], size=n, replace=False) for _ in range(draws)])
    means = reference[idx].mean(axis=1)
    return float(np.quantile(np.linalg.norm(means - mu, axis=1), quantile))
