"""Segment (slice) discovery: where did the errors rise most?

Every category of every categorical feature and every quintile of every numeric feature is a segment.
A segment is reported when it has at least ``MIN_SUPPORT`` rows and its error rate (or mean absolute error)
is significantly above the rest of the window (one-sided z-test, z >= 3.09, p <= 0.001), ranked by lift:
its error rate over the window's. Group statistics come from one ``bincount`` per feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sentinel_tui.baseline.snapshot import Baseline

MIN_SUPPORT = 30  # rows in a segment
PAIR_FEATURES = 8  # categorical features combined in pairs (the first ones with few categories)
PAIR_MAX_CATEGORIES = 12
PAIR_MARGIN = 1.25  # a pair's error rate must exceed both of its halves' by this factor
Z_MIN = 3.09
TOP = 5
QUANTILES = 5


def rows_to_columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {n: [r.get(n) for r in rows] for n in names}


def _groups(name: str, values: Any, numeric: bool) -> tuple[np.ndarray, list[str]] | None:
    """(group code per row, -1 for missing; a label per group)"""
    if numeric:
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(x)
        if ok.sum() < MIN_SUPPORT:
            return None
        edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, QUANTILES + 1)))
        if edges.size < 3:
            return None
        codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        codes[~ok] = -1
        return codes, [f"{name} in [{edges[b]:.4g}, {edges[b + 1]:.4g}]" for b in range(edges.size - 1)]
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes, [f"{name}={u}" for u in uniques]


def find_segments(columns: dict[str, Any], errors: np.ndarray, baseline: Baseline,
                  regression: bool = False) -> list[dict[str, Any]]:
    """``columns``: feature values of the labelled rows (None for missing); ``errors``: 0/1
    misclassifications or absolute errors, one per row."""
    errors = np.asarray(errors, dtype=np.float64)
    n = errors.size
    if n < 2 * MIN_SUPPORT:
        return []
    regression = regression or not np.isin(errors, (0.0, 1.0)).all()
    total, total_sq = float(errors.sum()), float((errors ** 2).sum())
    overall = total / n
    found = []
    single: list[tuple[np.ndarray, list[str]]] = []
    for profile in baseline.features:
        if profile.type not in ("numeric", "categorical", "boolean") or profile.name not in columns:
            continue
        numeric = profile.type == "numeric" and not profile.categories
        grouped = _groups(profile.name, columns[profile.name], numeric)
        if grouped is None:
            continue
        if not numeric and len(grouped[1]) <= PAIR_MAX_CATEGORIES:
            single.append(grouped)
        found += _score(grouped, errors, regression, total, total_sq, overall)
    # Pairs of categorical values (cheap: one combined code and one bincount per pair).
    pairs = single[:PAIR_FEATURES]
    for a in range(len(pairs)):
        for b in range(a + 1, len(pairs)):
            (ca, la), (cb, lb) = pairs[a], pairs[b]
            codes = np.where((ca >= 0) & (cb >= 0), ca * len(lb) + cb, -1)
            labels = [f"{x} & {y}" for x in la for y in lb]
            # A pair is news only when it is clearly worse than both of its halves; otherwise the single
            # value (ranked on its own) already says it, with more rows behind it.
            parent = np.maximum.outer(_rates(ca, len(la), errors), _rates(cb, len(lb), errors)).ravel()
            found += _score((codes, labels), errors, regression, total, total_sq, overall,
                            min_rate=PAIR_MARGIN * parent)
    found.sort(key=lambda seg: (-seg["lift"], -seg["rows"]))
    return found[:TOP]


def _rates(codes: np.ndarray, k: int, errors: np.ndarray) -> np.ndarray:
    ok = codes >= 0
    counts = np.bincount(codes[ok], minlength=k)
    sums = np.bincount(codes[ok], weights=errors[ok], minlength=k)
    return np.divide(sums, counts, out=np.zeros(k), where=counts > 0)


def _score(grouped: tuple[np.ndarray, list[str]], errors: np.ndarray, regression: bool, total: float,
           total_sq: float, overall: float, min_rate: np.ndarray | None = None) -> list[dict[str, Any]]:
    n = errors.size
    found: list[dict[str, Any]] = []
    codes, labels = grouped
    ok = codes >= 0
    k = np.bincount(codes[ok], minlength=len(labels)).astype(np.float64)
    s = np.bincount(codes[ok], weights=errors[ok], minlength=len(labels))
    rest_k = n - k
    valid = (k >= MIN_SUPPORT) & (rest_k > 0)
    if not valid.any():
        return found
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = s / k
        outside = (total - s) / rest_k
        if regression:
            sq = np.bincount(codes[ok], weights=errors[ok] ** 2, minlength=len(labels))
            var_in = np.maximum(sq / k - inside ** 2, 0) * k / np.maximum(k - 1, 1)
            var_out = np.maximum((total_sq - sq) / rest_k - outside ** 2, 0) * rest_k / np.maximum(rest_k - 1, 1)
            se = np.sqrt(var_in / k + var_out / rest_k)
        else:
            se = np.sqrt(overall * (1 - overall) * (1 / k + 1 / rest_k))
        z = (inside - outside) / np.where(se > 0, se, np.inf)
    keep = valid & (z >= Z_MIN)
    if min_rate is not None:
        keep &= inside > min_rate
    for i in np.flatnonzero(keep):
        rate = float(inside[i])
        found.append({"segment": labels[i], "rows": int(k[i]), "lift": rate / overall if overall else float("inf"),
                      "z": float(z[i]), "metric": "mae" if regression else "accuracy",
                      "value": rate if regression else 1 - rate, "error_rate": rate,
                      "window_error_rate": overall})
    return found
