"""Exact two-sample KS and Wasserstein-1 from counts that merge: a batch split into partitions, compared with a
sorted reference sample without ever bringing the batch together.

Each partition counts its values at the reference's distinct points ``u`` (how many are below and up to each,
``EcdfCounts``) and sums their distances to the next point up; the sums of those over partitions are the whole
batch's. That gives the KS statistic exactly (the supremum of |F_batch - F_ref| is reached at a reference point
or just before one, where both CDFs are known) and Wasserstein-1 exactly on every interval between reference
points where the two CDFs do not cross. On the few where they cross, the integral is split at the batch value of
the crossing rank: a second pass fetches only those intervals' values (``interior_values``).

Coordinates are centred on the reference mean, as ``univariate.SortedReference`` stores them, so the results
match ``univariate.compare_numeric`` on the whole batch to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EcdfCounts:
    """Batch values counted against distinct reference points ``u`` (J of them)."""

    n: int
    below: np.ndarray  # [j] values < u_j
    upto: np.ndarray  # [j] values <= u_j
    gaps: np.ndarray  # [0]: sum of (u_0 - y) over y < u_0; [j]: sum of (u_j - y) over u_{j-1} < y < u_j
    beyond: float  # sum of (y - u_{J-1}) over y > u_{J-1}

    def merge(self, other: EcdfCounts) -> EcdfCounts:
        return EcdfCounts(self.n + other.n, self.below + other.below, self.upto + other.upto,
                          self.gaps + other.gaps, self.beyond + other.beyond)


def ecdf_counts(x: np.ndarray, u: np.ndarray) -> EcdfCounts:
    """Counts of one partition's finite values ``x`` (sorted, centred) at the points ``u``."""
    below = np.searchsorted(x, u, side="left")
    upto = np.searchsorted(x, u, side="right")
    # Both are sorted, so the values in (u_j-1, u_j] are the run x[upto_j-1 : upto_j]: each run's distances to its
    # point summed at once (values equal to u_j add 0).
    k = int(upto[-1])
    lengths = np.diff(upto, prepend=0)
    gaps = np.zeros(u.size)
    runs = lengths > 0
    if k:
        gaps[runs] = np.add.reduceat(np.repeat(u, lengths) - x[:k], (upto - lengths)[runs])
    return EcdfCounts(int(x.size), below.astype(np.int64), upto.astype(np.int64), gaps,
                      float((x[k:] - u[-1]).sum()))


@dataclass(frozen=True)
class ReferencePoints:
    """The reference's distinct sorted (centred) values and how many reference values are <= each."""

    u: np.ndarray
    upto: np.ndarray  # R[j] = reference values <= u_j
    m: int

    @classmethod
    def of(cls, sorted_values: np.ndarray) -> ReferencePoints:
        u = np.unique(sorted_values)
        return cls(u, np.searchsorted(sorted_values, u, side="right").astype(np.int64), int(sorted_values.size))


def ks_statistic(ref: ReferencePoints, c: EcdfCounts) -> float:
    """sup |F_batch - F_ref|: on [u_j, u_j+1) F_ref is R_j / m while F_batch runs from upto_j / n up to
    below_j+1 / n; before u_0 F_ref is 0, from the last point on it is 1."""
    n, m = c.n, ref.m
    f_ref = ref.upto * (1.0 / m)
    at = c.upto * (1.0 / n)
    before_next = c.below[1:] * (1.0 / n)
    cands = [c.below[0] * (1.0 / n), float(np.abs(at - f_ref).max()), 1.0 - float(at[-1])]
    if before_next.size:
        cands.append(float(np.abs(before_next - f_ref[:-1]).max()))
    return float(max(cands))


def crossings(ref: ReferencePoints, c: EcdfCounts) -> tuple[np.ndarray, np.ndarray]:
    """Intervals [u_j, u_j+1) where F_batch crosses F_ref, and the rank t (1-based, among the values inside the
    interval) of the first value at which F_batch reaches F_ref. Integer arithmetic: no rounding decides it."""
    n, m = c.n, ref.m
    target = ref.upto[:-1] * n  # F_ref * n * m
    start, end = c.upto[:-1] * m, c.below[1:] * m
    j = np.flatnonzero((start < target) & (target < end))
    t = (target[j] - start[j] + m - 1) // m  # ceil((R_j n - U_j m) / m)
    return j, t


@dataclass
class Interior:
    """Batch values strictly inside some intervals (u_j, u_j+1): ``values`` grouped interval by interval
    (``lengths`` of them each), in no order within an interval."""

    values: np.ndarray
    lengths: np.ndarray


def merge_all(parts: list[Interior]) -> Interior:
    """The parts' values of interval j one after another, for every j: placed directly, no sort, one copy."""
    lengths = np.sum([p.lengths for p in parts], axis=0)
    to = _starts(lengths)
    out = np.empty(int(lengths.sum()), dtype=np.float64)
    for p in parts:
        out[_positions(p.lengths, to)] = p.values
        to = to + p.lengths
    return Interior(out, lengths)


def _ids(lengths: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(lengths.size), lengths)


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each group starts when groups of ``lengths`` lie one after another."""
    return np.cumsum(lengths) - lengths


def _positions(lengths: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Where values grouped by ``lengths`` go when group j starts at ``to[j]``."""
    return np.arange(int(lengths.sum())) + np.repeat(to - _starts(lengths), lengths)


def interior_values(x: np.ndarray, u: np.ndarray, intervals: np.ndarray) -> Interior:
    """One partition's values (sorted, centred) strictly inside each listed interval (u_j, u_j+1)."""
    lo = np.searchsorted(x, u[intervals], side="right")
    hi = np.maximum(np.searchsorted(x, u[intervals + 1], side="left"), lo)
    lengths = (hi - lo).astype(np.int64)
    return Interior(x[_positions(lengths, lo)], lengths)


def wasserstein(ref: ReferencePoints, c: EcdfCounts, intervals: np.ndarray, ranks: np.ndarray,
                inside: Interior) -> float:
    """The integral of |F_batch - F_ref| over the line; ``inside``: the values of the crossing ``intervals``."""
    n, m, u = c.n, ref.m, ref.u
    total = c.gaps[0] / n + c.beyond / n
    if u.size > 1:
        f_ref = ref.upto[:-1] * (1.0 / m)
        start = c.upto[:-1] * (1.0 / n)
        width = np.diff(u)
        signed = (start - f_ref) * width + c.gaps[1:] / n  # the integral of F_batch - F_ref over the interval
        sign = np.where(c.upto[:-1] * m >= ref.upto[:-1] * n, 1.0, -1.0)
        parts = signed * sign
        if intervals.size:
            parts[intervals] = signed[intervals] + 2 * _negative_parts(
                intervals, ranks, inside, f_ref[intervals] - start[intervals], u, n)
        total += float(parts.sum())
    return max(total, 0.0)


def _negative_parts(intervals: np.ndarray, ranks: np.ndarray, inside: Interior, gap: np.ndarray, u: np.ndarray,
                    n: int) -> np.ndarray:
    """The integral of F_ref - F_batch over the part of each crossing interval where F_batch is below: from u_j
    up to y_t, the t-th value inside, less what the values before y_t already added (all intervals at once)."""
    ids = _ids(inside.lengths)
    order = np.lexsort((inside.values, ids))
    vals = inside.values[order]
    starts = _starts(inside.lengths)
    y_t = vals[starts + ranks - 1]
    behind_mask = np.arange(vals.size) - starts[ids] < ranks[ids] - 1
    behind = np.bincount(ids[behind_mask], weights=(y_t[ids] - vals)[behind_mask], minlength=intervals.size)
    return gap * (y_t - u[intervals]) - behind / n
