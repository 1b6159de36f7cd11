"""Two-sample statistics for one feature: pure NumPy, no files, no pandas.

The numeric tests take the reference as a *sorted* array prepared once per baseline (``SortedReference``),
so one batch costs a sort of the batch plus O(n log m) searches, never a sort of batch + reference together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sentinel_tui.stats.discrete import fisher_exact, hypergeometric_two_sided
from sentinel_tui.stats.distributions import chi2_sf, kolmogorov_sf, kstwo_sf, normal_cdf

# The p-values are SciPy's (stats/distributions.py and stats/discrete.py compute them without importing
# scipy.special, 0.3 s, or scipy.stats, 1 s). From an effective sample size of 30, Stephens' corrected
# Kolmogorov limit gives p-values between 0.96x and 1.18x SciPy's exact ``kstwo`` down to p = 1e-5
# (measured; the larger ratios, which only cost power, at the smallest sizes), and
# ``kstwo`` gets slow at large sizes (15 ms at 10,000, 60 ms at 33,000); below 30 we use ``kstwo``.
_KSTWO_MAX_N = 30


@dataclass(frozen=True)
class SortedReference:
    """A reference sample prepared for repeated comparisons: sorted, centred, with prefix integrals."""

    values: np.ndarray  # sorted, centred (reference mean subtracted) float64
    centre: float
    prefix: np.ndarray  # prefix[j] = sum(values[:j]) / m, length m + 1

    @classmethod
    def from_values(cls, values: np.ndarray) -> SortedReference:
        v = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(v)
        if not finite.all():
            v = v[finite]
        centre = float(v.mean()) if v.size else 0.0
        # Centring keeps the prefix sums well conditioned for features with a large offset (timestamps, ids).
        s = v - centre
        s.sort()
        prefix = np.empty(s.size + 1)
        prefix[0] = 0.0
        np.cumsum(s, out=prefix[1:])
        prefix[1:] /= max(s.size, 1)
        return cls(values=s, centre=centre, prefix=prefix)

    @property
    def size(self) -> int:
        return int(self.values.size)


@dataclass(frozen=True)
class NumericComparison:
    ks_statistic: float
    p_value: float
    wasserstein: float  # in the feature's units


def ks_pvalue(d: np.ndarray | float, n: int, m: int) -> np.ndarray | float:
    """Two-sided two-sample KS p-value, SciPy's asymptotic method (``kstwo`` at the effective size).

    Accurate for continuous data at every size we use; conservative (too large) with ties, which only
    costs power, never false alarms.
    """
    if np.ndim(d):
        return np.array([ks_pvalue(float(v), n, m) for v in np.ravel(d)]).reshape(np.shape(d))
    en = float(np.round(n * m / (n + m)))
    if en < 1:
        return float("nan")  # kstwo is defined for n >= 1
    if en < _KSTWO_MAX_N:
        return kstwo_sf(float(d), int(en))
    root = np.sqrt(en)
    return kolmogorov_sf(float((root + 0.12 + 0.11 / root) * d))


def _prefix_integral(ref: SortedReference, u: np.ndarray) -> np.ndarray:
    """S(u) = integral over [0, u] of the reference quantile function (piecewise linear)."""
    m = ref.size
    j = (u * m).astype(np.int64)
    np.minimum(j, m - 1, out=j)
    out = u - j * (1.0 / m)
    out *= ref.values[j]
    out += ref.prefix[j]
    return out


# The grids below depend only on the batch size (and the reference size), so every feature of a batch shares
# them; kept for batches of up to a million rows (16 MB), recomputed per feature beyond (memory over speed).
_GRID_CACHE_ROWS = 1 << 20


def _batch_grid_uncached(n: int) -> np.ndarray:
    return np.arange(n + 1) * (1.0 / n)


def _grid_steps_uncached(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """For i = 0..n: j = floor(i * m / n) (the reference step holding i / n) and i / n - j / m."""
    # floor(i * m / n) computed in floats is exact: i * m and n are exact and a non-integer quotient is at
    # least 1/n away from the next integer, far more than one ulp.
    i = np.arange(n + 1, dtype=np.float64)
    j = (i * m / n).astype(np.int64)
    np.minimum(j, m - 1, out=j)
    return j, i / n - j * (1.0 / m)


def _read_only(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


@lru_cache(maxsize=4)
def _batch_grid_cached(n: int) -> np.ndarray:
    grid = _batch_grid_uncached(n)
    _read_only(grid)
    return grid


@lru_cache(maxsize=4)
def _grid_steps_cached(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    steps = _grid_steps_uncached(n, m)
    _read_only(*steps)
    return steps


def _batch_grid(n: int) -> np.ndarray:
    """i / n for i = 0..n (the batch's empirical CDF at its points)."""
    return _batch_grid_cached(n) if n <= _GRID_CACHE_ROWS else _batch_grid_uncached(n)


def _prefix_on_grid(ref: SortedReference, n: int) -> np.ndarray:
    """S(i / n) for i = 0..n; its differences integrate the reference quantile function over batch steps."""
    m = ref.size
    j, frac = _grid_steps_cached(n, m) if n <= _GRID_CACHE_ROWS else _grid_steps_uncached(n, m)
    s = ref.values.take(j)
    s *= frac
    s += ref.prefix.take(j)
    return s


def _count_below(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each b[k] (b sorted), how many reference values r (sorted) are strictly below it.

    One binary search per value of the smaller array: when the batch is the larger, each reference value is
    placed in the batch instead (t[j] = how many batch values are <= r[j]; r[j] < b[k] exactly when t[j] <= k)
    and the counts are accumulated, the same integers for a quarter less time at 100,000 x 50,000."""
    if b.size <= r.size:
        return np.searchsorted(r, b, side="left")
    placed = np.searchsorted(b, r, side="right")
    return np.cumsum(np.bincount(placed, minlength=b.size + 1)[:-1])


def compare_numeric(ref: SortedReference, batch_sorted: np.ndarray) -> NumericComparison:
    """Exact KS statistic and exact Wasserstein-1 distance between a sorted batch and the reference.

    KS: the supremum of |F_ref - F_batch| is reached at a batch point or just before one, so it is enough
    to evaluate both CDFs (and their left limits) at the batch points.
    W1: the integral of |Q_batch(u) - Q_ref(u)| du. On batch step i, Q_batch is the constant b_i; where
    Q_ref stays on one side of b_i over the whole step the integral is |b_i / n - I_i| (I_i the integral of
    Q_ref over the step); on the few steps where Q_ref crosses b_i it is split at the crossing using the
    reference's prefix integral. Cost: one search per batch value and O(n) vector work, no merge sort.
    """
    b = np.asarray(batch_sorted, dtype=np.float64) - ref.centre
    n, m = b.size, ref.size
    if n == 0 or m == 0:
        return NumericComparison(float("nan"), float("nan"), float("nan"))
    r = ref.values
    below_i = _count_below(r, b)
    # Only values that also occur in the reference need a second search (none, for continuous data).
    tied = r.take(below_i, mode="clip") == b  # the first reference value >= each batch value (or the last one)
    below = below_i * (1.0 / m)  # F_ref(v-)
    upto = below
    if tied.any():
        where = np.flatnonzero(tied)
        upto = below.copy()
        upto[where] = np.searchsorted(r, b[where], side="right") * (1.0 / m)  # F_ref(v)
    grid_u = _batch_grid(n)
    lo, hi = grid_u[:-1], grid_u[1:]
    # Ties inside the batch: F_batch(v) is reached at the last copy of v, F_batch(v-) at the first, so the
    # other copies are left out of each maximum (set to 0, which never exceeds a maximum of absolute values).
    same = b[1:] == b[:-1] if n > 1 else np.zeros(0, dtype=bool)
    ties = bool(same.any())
    gap = upto - hi
    if ties:
        gap[:-1][same] = 0.0
    d = max(gap.max(), -gap.min())
    np.subtract(below, lo, out=gap)
    if ties:
        gap[1:][same] = 0.0
    d = float(max(d, gap.max(), -gap.min()))

    s_grid = _prefix_on_grid(ref, n)
    step = b * (1.0 / n)
    step -= np.diff(s_grid)
    crossing = np.flatnonzero((below > lo) & (below < hi))
    np.abs(step, out=step)
    w1 = float(step.sum())
    if crossing.size:
        bc, cr = b[crossing], below[crossing]
        s_lo, s_hi = s_grid[crossing], s_grid[crossing + 1]
        exact = bc * (2 * cr - lo[crossing] - hi[crossing]) + s_lo + s_hi - 2 * _prefix_integral(ref, cr)
        w1 += float(np.maximum(exact, 0.0).sum() - step[crossing].sum())
    return NumericComparison(ks_statistic=d, p_value=float(ks_pvalue(d, n, m)), wasserstein=max(w1, 0.0))


def psi(ref_proportions: np.ndarray, batch_counts: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index; empty bins are floored so one empty bin does not make it infinite."""
    p = np.maximum(np.asarray(ref_proportions, dtype=np.float64), floor)
    total = batch_counts.sum()
    if total == 0:
        return float("nan")
    q = np.maximum(batch_counts / total, floor)
    return float(np.sum((q - p) * np.log(q / p)))


def histogram_counts(batch_sorted: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin for reference quantile edges; the outer bins are open so every value counts."""
    inner = edges[1:-1]
    cuts = np.searchsorted(batch_sorted, inner, side="right")
    bounds = np.concatenate(([0], cuts, [batch_sorted.size]))
    return np.diff(bounds)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon *distance* with natural logs (as SciPy and Evidently compute it; 0..0.83)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p = p / p.sum()
    q = q / q.sum()
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / mid), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / mid), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


@dataclass(frozen=True)
class CategoricalComparison:
    statistic: float
    p_value: float
    dof: int
    merged_bins: int  # reference categories pooled because their expected batch count was < 5


def chi2_homogeneity(ref_counts: np.ndarray, batch_counts: np.ndarray, min_expected: float = 5.0
                     ) -> CategoricalComparison:
    """Chi-square test that two count vectors come from one distribution (2 x K contingency table).

    The chi-square approximation is only trustworthy when every expected count is at least about 5
    (Cochran's rule); small batches with rare categories would otherwise produce false alarms. Bins whose
    expected count in the batch is below ``min_expected`` are pooled into one "rare" bin (and that bin into
    its smallest neighbour while it is still too small) before testing.
    """
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(batch_counts, dtype=np.float64)
    used = (ref + cur) > 0
    ref, cur = ref[used], cur[used]
    n_ref, n_cur = ref.sum(), cur.sum()
    if n_ref == 0 or n_cur == 0:
        return CategoricalComparison(float("nan"), float("nan"), 0, 0)
    expected_cur = (ref + cur) / (n_ref + n_cur) * n_cur
    small = expected_cur < min_expected
    merged = int(small.sum())
    if merged:
        keep_ref, keep_cur = list(ref[~small]), list(cur[~small])
        rare_ref, rare_cur = ref[small].sum(), cur[small].sum()
        pooled = (rare_ref + rare_cur) / (n_ref + n_cur) * n_cur
        while pooled < min_expected and keep_ref:
            k = int(np.argmin(np.add(keep_ref, keep_cur)))
            rare_ref += keep_ref.pop(k)
            rare_cur += keep_cur.pop(k)
            pooled = (rare_ref + rare_cur) / (n_ref + n_cur) * n_cur
        ref = np.array([*keep_ref, rare_ref])
        cur = np.array([*keep_cur, rare_cur])
    if ref.size < 2:
        return CategoricalComparison(0.0, 1.0, 0, merged)
    table = np.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return CategoricalComparison(0.0, 1.0, 0, merged)
    row = table.sum(axis=1, keepdims=True)
    col = table.sum(axis=0, keepdims=True)
    expected = row * col / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    return CategoricalComparison(stat, chi2_sf(stat, dof), dof, merged)


def cohens_h(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray | float:
    """Cohen's h between shares p and q: the difference of their arcsine square roots, doubled (a share that
    moves as much means as much near 50% as near 5%)."""
    return np.abs(2 * np.arcsin(np.sqrt(q)) - 2 * np.arcsin(np.sqrt(p)))


@dataclass(frozen=True)
class CategoryTest:
    """A categorical feature's test: the chi-square and the test of the category that moved most."""

    chi2: CategoricalComparison
    largest: float | None  # largest_category_p_value (None: two categories, the chi-square itself)

    @property
    def p_value(self) -> float:
        """Bonferroni over the two: the smaller p-value, doubled (capped at 1)."""
        return self.chi2.p_value if self.largest is None else min(1.0, 2 * min(self.chi2.p_value, self.largest))


def category_test(ref_counts: np.ndarray, batch_counts: np.ndarray) -> CategoryTest:
    """The chi-square (which spreads its power over k-1 degrees of freedom) together with the test of the one
    category that moved most: one class vanishing from a model's predictions, or one segment surging, is not
    diluted."""
    return CategoryTest(chi2_homogeneity(ref_counts, batch_counts), largest_category_p_value(ref_counts, batch_counts))


def largest_category_p_value(ref_counts: np.ndarray, batch_counts: np.ndarray, candidates: int = 3
                             ) -> float | None:
    """A test of the one category whose share moved most, for what the chi-square dilutes: when a single category
    vanishes or surges, the chi-square spreads its power over k-1 degrees of freedom, while this test pays only a
    factor k. The candidates are the categories with the largest pooled z; each gets Fisher's exact test of its
    count against the rest (the normal approximation is far off in the tail that matters: no row of a 10%
    category in 100 rows has z 3.3, p 1e-3, but an exact p of 1e-4), and the smallest p-value times k (capped
    at 1) is returned. Taking the minimum over only some categories can only raise it, so the bound holds. None
    for fewer than three categories: with two, this is the chi-square itself."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(batch_counts, dtype=np.float64)
    used = np.flatnonzero((ref + cur) > 0)
    n_ref, n_cur = ref.sum(), cur.sum()
    if used.size < 3 or n_ref == 0 or n_cur == 0:
        return None
    pooled = (ref[used] + cur[used]) / (n_ref + n_cur)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(cur[used] / n_cur - ref[used] / n_ref) / se, 0.0)
    best = 1.0
    for j in np.argsort(-z, kind="stable")[:candidates].tolist():
        i = int(used[j])
        p = hypergeometric_two_sided(int(round(cur[i])), int(round(n_ref + n_cur)), int(round(ref[i] + cur[i])),
                                     int(round(n_cur)))
        best = min(best, 2 * normal_cdf(-float(z[j])) if p is None else p)
    return min(1.0, best * used.size)


@dataclass(frozen=True)
class ProportionComparison:
    statistic: float  # z (or the odds ratio when Fisher's exact test was used)
    p_value: float
    cohens_h: float
    exact: bool


def two_proportions(ref_true: int, ref_n: int, batch_true: int, batch_n: int) -> ProportionComparison:
    """Two-proportion z-test (pooled), or Fisher's exact test when an expected cell count is below 5."""
    if ref_n == 0 or batch_n == 0:
        return ProportionComparison(float("nan"), float("nan"), float("nan"), False)
    p1, p2 = ref_true / ref_n, batch_true / batch_n
    h = cohens_h(p1, p2)
    pooled = (ref_true + batch_true) / (ref_n + batch_n)
    expected_min = min(pooled, 1 - pooled) * min(ref_n, batch_n)
    if expected_min < 5:
        odds, p = fisher_exact([[batch_true, batch_n - batch_true], [ref_true, ref_n - ref_true]])
        return ProportionComparison(float(odds), float(p), float(h), True)
    se = np.sqrt(pooled * (1 - pooled) * (1 / ref_n + 1 / batch_n))
    z = (p2 - p1) / se if se > 0 else 0.0
    return ProportionComparison(float(z), 2 * normal_cdf(-abs(float(z))), float(h), False)
