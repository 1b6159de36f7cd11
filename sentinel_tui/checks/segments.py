"""Segment (slice) discovery: where did the errors rise most?

Every category of every categorical feature and every quintile of every numeric feature is a segment.
A segment is reported when it has enough rows, its error rate is significantly above the rest of the
window (one-sided two-proportion z-test, z >= 3.09, p <= 0.001, Bonferroni-free because only the ranking
is used, not a verdict), and it is ranked by lift (its error rate over the window's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..baseline.store import Baseline

MIN_SUPPORT = 30  # rows in a segment
Z_MIN = 3.09
TOP = 5
QUANTILES = 5


def _segments_of(name: str, values: list[Any], numeric: bool) -> list[tuple[str, np.ndarray]]:
    if numeric:
        x = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        ok = np.isfinite(x)
        if ok.sum() < MIN_SUPPORT:
            return []
        edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, QUANTILES + 1)))
        if edges.size < 3:
            return []
        bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        return [(f"{name} in [{edges[b]:.4g}, {edges[b + 1]:.4g}]", ok & (bins == b)) for b in range(edges.size - 1)]
    arr = np.array(["" if v is None else str(v) for v in values], dtype=object)
    uniq, inverse = np.unique(arr, return_inverse=True)
    return [(f"{name}={u}", inverse == i) for i, u in enumerate(uniq) if u != ""]


def find_segments(rows: list[dict[str, Any]], errors: np.ndarray, baseline: Baseline,
                  regression: bool = False) -> list[dict[str, Any]]:
    """``rows``: feature values per labelled row; ``errors``: 0/1 misclassifications or absolute errors."""
    n = len(rows)
    if n < 2 * MIN_SUPPORT:
        return []
    errors = np.asarray(errors, dtype=np.float64)
    regression = regression or not np.isin(errors, (0.0, 1.0)).all()
    overall = float(errors.mean())
    found = []
    for profile in baseline.features:
        if profile.type not in ("numeric", "categorical", "boolean"):
            continue
        values = [r.get(profile.name) for r in rows]
        numeric = profile.type == "numeric" and not profile.categories
        for label, mask in _segments_of(profile.name, values, numeric):
            k = int(mask.sum())
            if k < MIN_SUPPORT or k == n:
                continue
            inside, outside = errors[mask], errors[~mask]
            if regression:
                se = math.sqrt(inside.var(ddof=1) / k + outside.var(ddof=1) / (n - k)) or 1e-12
                z = (inside.mean() - outside.mean()) / se
            else:
                pooled = overall
                se = math.sqrt(pooled * (1 - pooled) * (1 / k + 1 / (n - k))) or 1e-12
                z = (inside.mean() - outside.mean()) / se
            if z < Z_MIN:
                continue
            rate = float(inside.mean())
            found.append({"segment": label, "rows": k, "lift": rate / overall if overall > 0 else float("inf"),
                          "z": float(z), "metric": "mae" if regression else "accuracy",
                          "value": rate if regression else 1 - rate, "error_rate": rate,
                          "window_error_rate": overall})
    found.sort(key=lambda s: (-s["lift"], -s["rows"]))
    return found[:TOP]
