"""Dataset-level drift evidence: does the batch as a whole differ from the reference, beyond what each feature's
own test can see?

Per-feature tests with a Bonferroni correction miss shifts that move many features a little (a change in the mix
of classes or customers, a correlated change). The default test (``mean_shift``) encodes the tested features
(numeric ones standardised and clipped to the reference's 0.5%-99.5% range, so one wild value does not dominate;
categories and booleans as indicators) and measures the batch's mean vector against the reference's in the
reference's own covariance (Mahalanobis distance; ``stats/meanshift.py``), calibrated on the reference at the
batch's size. ``cauchy`` combines the per-feature p-values instead (valid under dependence, but blind to a
direction no single feature shows). Like a feature's verdict, the evidence needs significance (its p-value below
its share of ``alpha``) and materiality (the distance, in reference standard deviations, at or above
``dataset_effect_warning``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sentinel_tui.baseline.profile import ColumnProfile, numeric_key
from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.checks.drift_tests import category_counts
from sentinel_tui.config import DriftSettings
from sentinel_tui.io.coerce import Coerced, float64_numpy
from sentinel_tui.model import DatasetEvidence, Severity
from sentinel_tui.stats.meanshift import MeanShiftReference, cauchy_combination

# Reference rows the covariance and the calibration use: 5,000 estimate a covariance of up to ~200 dimensions
# well and keep the first batch's set-up to a few tens of milliseconds.
_REFERENCE_ROWS = 5_000
# More encoded dimensions than this (very wide tables) and the mean-shift test falls back to the Cauchy
# combination: a 1,000-dimensional covariance costs more than the whole check and estimates poorly.
MAX_DIMENSIONS = 200
_CATEGORY_MIN_SHARE = 0.01  # categories below 1% of the reference are left out (their indicators are noise)
_CATEGORIES_PER_FEATURE = 20
_CLIP = (0.005, 0.995)


@dataclass(frozen=True)
class _Dimension:
    feature: str
    kind: str  # "numeric" | "category"
    key: str | None  # the category (None for numeric)
    lo: float = 0.0  # numeric: clipping bounds, centre and scale of the encoding
    hi: float = 0.0
    centre: float = 0.0
    scale: float = 1.0
    share: float = 0.0  # category: its share of the reference sample's non-missing values


@dataclass
class _Encoding:
    dims: list[_Dimension]
    reference: MeanShiftReference
    profiles: dict[str, ColumnProfile]  # of the encoded features


def clip_bounds(baseline: Baseline, p: ColumnProfile) -> tuple[float, float] | None:
    """The bounds a numeric feature is clipped to in the encoding: the reference sample's 0.5% and 99.5%."""
    ref = baseline.sorted_reference(p.name)
    m = ref.size
    if m < 2:
        return None
    return float(ref.values[int(_CLIP[0] * (m - 1))] + ref.centre), float(ref.values[int(_CLIP[1] * (m - 1))]
                                                                         + ref.centre)


def _numeric_dimension(p: ColumnProfile, baseline: Baseline, pick: np.ndarray) -> tuple[_Dimension, np.ndarray] | None:
    """Clipping bounds, centre and scale from the whole sample, read off its sorted copy (the KS test's, already
    made); the encoded values of the picked rows."""
    bounds = clip_bounds(baseline, p)
    if bounds is None:
        return None
    ref = baseline.sorted_reference(p.name)
    sorted_values = ref.values + ref.centre
    lo, hi = bounds
    clipped = np.clip(sorted_values, lo, hi)
    dim = _Dimension(p.name, "numeric", None, lo, hi, float(clipped.mean()), float(clipped.std()) or 1.0)
    values = float64_numpy(baseline.sample.column(p.name))[pick]
    finite = np.isfinite(values)
    column = np.zeros(values.size)
    column[finite] = (np.clip(values[finite], lo, hi) - dim.centre) / dim.scale
    return dim, column


def _common_categories(p: ColumnProfile) -> list[tuple[str, float]]:
    """The feature's categories of at least 1% of the reference (at most 20), with their shares."""
    total = sum(p.categories.values()) + p.other_count
    if total == 0:
        return []
    ranked = sorted(p.categories.items(), key=lambda kv: -kv[1])[:_CATEGORIES_PER_FEATURE]
    return [(k, n / total) for k, n in ranked if _CATEGORY_MIN_SHARE <= n / total < 1.0]


def _category_dimensions(p: ColumnProfile, baseline: Baseline, pick: np.ndarray
                         ) -> list[tuple[_Dimension, np.ndarray]]:
    """Indicators of the feature's common categories (shares from the reference's counts) on the picked rows;
    a missing value counts at the category's share."""
    keys = _sample_keys(p, baseline, pick)
    common = _common_categories(p)
    if keys is None or not common:
        return []
    index = {key: i for i, (key, _) in enumerate(common)}
    codes = np.array([-2 if k is None else index.get(k, -1) for k in keys], dtype=np.int64)  # -2: missing
    out = []
    for i, (key, share) in enumerate(common):
        column = np.where(codes == -2, share, (codes == i).astype(np.float64)) - share
        out.append((_Dimension(p.name, "category", key, share=share), column))
    return out


def _sample_keys(p: ColumnProfile, baseline: Baseline, pick: np.ndarray) -> list | None:
    """The picked sample rows of a categorical, boolean or low-cardinality numeric feature as category keys
    (None: missing)."""
    if p.name not in baseline.sample.column_names:
        return None
    col = baseline.sample.column(p.name)
    if p.type == "categorical":
        values = col.to_pylist()  # 3 ms for 50,000 rows; .take would import pyarrow.compute and pandas
        return [values[i] for i in pick]
    values = float64_numpy(col)[pick]
    if p.type == "boolean":
        return [None if not np.isfinite(v) else "true" if v > 0 else "false" for v in values.tolist()]
    names = {u: numeric_key(u) for u in np.unique(values[np.isfinite(values)]).tolist()}
    return [names.get(v) for v in values.tolist()]


def _encode(baseline: Baseline, tested: list[tuple[ColumnProfile, str]]) -> _Encoding | None:
    rows = baseline.sample.num_rows
    if rows < 20:
        return None
    wanted = sum(1 if kind == "numeric" else len(_common_categories(p)) for p, kind in tested)
    if wanted > MAX_DIMENSIONS:
        return None  # counted first: a wide table goes to the Cauchy combination without encoding anything
    # The encoding (clipping, centres, shares) and so the reference mean come from the whole reference or its
    # sample: the reference mean's own error is shared by every batch compared with it. The covariance and
    # the null distribution need fewer rows.
    pick = np.sort(np.random.default_rng(0).choice(rows, min(rows, _REFERENCE_ROWS), replace=False))
    dims: list[_Dimension] = []
    columns: list[np.ndarray] = []
    for p, kind in tested:
        if kind == "numeric":
            got = _numeric_dimension(p, baseline, pick) if p.name in baseline.sample.column_names else None
            parts = [got] if got is not None else []
        else:
            parts = _category_dimensions(p, baseline, pick)
        for dim, column in parts:
            dims.append(dim)
            columns.append(column)
    if not dims:
        return None
    return _Encoding(dims, MeanShiftReference.fit(np.column_stack(columns), reference_rows=rows),
                     {p.name: p for p, _ in tested})


def _encoding(baseline: Baseline, tested: list[tuple[ColumnProfile, str]]) -> _Encoding | None:
    key = tuple((p.name, kind) for p, kind in tested)
    cache = baseline.derived.setdefault("dataset_encoding", {})
    if key not in cache:
        if len(cache) > 8:  # batches with different column sets: keep the cache bounded
            cache.clear()
        cache[key] = _encode(baseline, tested)
    return cache[key]


def _batch_difference(enc: _Encoding, columns: dict[str, Coerced], n: int) -> np.ndarray:
    """The batch's encoded mean minus the reference's, missing values counted at the reference's mean."""
    out = np.empty(len(enc.dims))
    counted: dict[str, dict[str, float]] = {}
    for i, d in enumerate(enc.dims):
        c = columns[d.feature]
        if d.kind == "numeric":
            total = c.clipped_sum(d.lo, d.hi)
            out[i] = (total - c.finite_count() * d.centre) / d.scale / n
        else:
            counts = counted.get(d.feature)
            if counts is None:
                counts = counted[d.feature] = _counts_by_key(enc.profiles[d.feature], c)
            present = counts.get("\0present", 0.0)
            out[i] = (counts.get(d.key, 0.0) - present * d.share) / n
    return out


def _counts_by_key(p: ColumnProfile, c: Coerced) -> dict[str, float]:
    """The batch's count of each reference category, and under "\0present" its non-missing values: booleans
    from their 0/1 values, the rest as the chi-square test counts them (``drift_tests.category_counts``)."""
    if c.logical_type == "boolean":
        n, trues = c.finite_count(), c.true_count()
        return {"true": float(trues), "false": float(n - trues), "\0present": float(n)}
    aligned = category_counts(p, c)
    if isinstance(aligned, str):  # no values
        return {}
    _, cur, total, _ = aligned
    return {**{key: float(n) for key, n in zip(p.categories, cur, strict=False)}, "\0present": float(total)}


def _top_features(enc: _Encoding, diff: np.ndarray, shown: int = 3) -> list[dict[str, Any]]:
    """The features whose encoded means moved most, in reference standard deviations of each dimension (a
    numeric dimension is encoded in them already; an indicator's standard deviation is sqrt(p (1 - p)))."""
    sd = np.array([1.0 if d.kind == "numeric" else np.sqrt(d.share * (1 - d.share)) for d in enc.dims])
    z = np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), 0.0)
    best: dict[str, tuple[float, str | None]] = {}
    for d, v in zip(enc.dims, z, strict=True):
        if abs(v) > abs(best.get(d.feature, (0.0, None))[0]):
            best[d.feature] = (float(v), d.key)
    ranked = sorted(best.items(), key=lambda kv: -abs(kv[1][0]))[:shown]
    return [{"feature": f, "category": key, "shift_std": round(v, 4)} for f, (v, key) in ranked]


def dataset_evidence(baseline: Baseline, tested: list[tuple[ColumnProfile, str, float]],
                     columns: dict[str, Coerced], s: DriftSettings, explained: bool = False
                     ) -> DatasetEvidence | None:
    """The dataset-level test of the batch; ``tested`` holds (profile, "numeric" | "category", its p-value) of
    each feature the per-feature tests measured. None when no dataset test is configured or possible.

    ``explained``: features already drifted. The batch is alerted on through them, and one shifted feature
    moves the mean vector too, so the evidence is reported but does not fire (one incident, one page)."""
    if s.dataset_test == "none" or len(tested) < 2:
        return None
    n = max(columns[p.name].rows for p, _, _ in tested)
    threshold = s.alpha * s.dataset_alpha_share
    enc = None
    if s.dataset_test == "mean_shift":
        enc = _encoding(baseline, [(p, kind) for p, kind, _ in tested])
    if enc is None:
        p_value = cauchy_combination(np.array([pv for _, _, pv in tested]))
        fired = bool(p_value < threshold) and not explained
        return DatasetEvidence(test="cauchy", statistic=float("nan"), p_value=p_value, p_threshold=threshold,
                               effect=None, effect_threshold=None, fired=fired,
                               severity=Severity.WARNING if fired else None, dimensions=len(tested), rows=n,
                               explained=explained)
    diff = _batch_difference(enc, columns, n)
    t = enc.reference.statistic(diff, n)
    p_value = enc.reference.p_value(t, n)
    effect = enc.reference.distance(t, n)
    fired = bool(p_value < threshold and effect >= s.dataset_effect_warning) and not explained
    severity = (Severity.CRITICAL if effect >= s.dataset_effect_critical else Severity.WARNING) if fired else None
    return DatasetEvidence(test="mean_shift", statistic=t, p_value=p_value, p_threshold=threshold, effect=effect,
                           effect_threshold=s.dataset_effect_warning, fired=fired, severity=severity,
                           dimensions=len(enc.dims), rows=n, top=_top_features(enc, diff), explained=explained)
