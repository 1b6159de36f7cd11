"""Partial profiles: what one file (or partition) of a reference contributes to its baseline, merged associatively.

The Dask engine profiles each partition on a worker, merges the partials in a tree and finishes the baseline on
the client; a partial never holds more than a bounded part of the data (value counts up to the category cap, a
KLL sketch, the bottom-k sample candidates). What is exact and what is sketched:

- exact: rows, missing values, type mismatches, min/max, mean and standard deviation (Chan's merge; equal to
  the local engine's to rounding), category counts (every category up to ``max_categories``), boolean counts,
  distinct counts (capped at ``max_categories`` + 1, as the local engine caps them), the reference sample (the
  same rows: ``stats.mergeable``);
- sketched: the quantiles and PSI bin edges and shares of numeric features (KLL, rank error
  ``stats.mergeable.rank_error()``: 0.28%); the top share of a column with more than ``max_categories``
  distinct values (an upper bound, the sum of each partition's own top count: only the constant-column check
  reads it, and a bound makes that check more cautious, never louder);
- from the sample: the reference model performance (target/prediction metrics on the sample's rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from sentinel_tui.baseline.profile import QUANTILES, ColumnProfile, numeric_key
from sentinel_tui.io.coerce import FALSE_STRINGS, TRUE_STRINGS, coerce, float64_numpy
from sentinel_tui.stats.mergeable import Moments, bottom_k, kll_bytes, kll_load, kll_merge, merge_counts, row_keys


@dataclass(frozen=True)
class PartialSpec:
    """What every partition must agree on before profiling: the column kinds and the caps."""

    kinds: dict[str, str]  # column -> "number" | "datetime" | "bool" | "string"
    seed: int
    sample_rows: int
    max_categories: int


@dataclass
class ColumnPartial:
    kind: str
    rows: int = 0
    nulls: int = 0
    unparseable: int = 0
    moments: Moments = field(default_factory=Moments)
    has_infinity: bool = False
    sketch: bytes | None = None
    counts: dict | None = field(default_factory=dict)  # value -> rows; None once over the cap
    top_bound: int = 0  # sum over partitions of each one's largest count of one value

    def merge(self, other: ColumnPartial, cap: int) -> ColumnPartial:
        sketch = other.sketch if self.sketch is None else self.sketch if other.sketch is None \
            else kll_merge(self.sketch, other.sketch)
        return ColumnPartial(self.kind, self.rows + other.rows, self.nulls + other.nulls,
                             self.unparseable + other.unparseable, self.moments.merge(other.moments),
                             self.has_infinity or other.has_infinity, sketch,
                             merge_counts(self.counts, other.counts, cap), self.top_bound + other.top_bound)


@dataclass
class ProfilePartial:
    rows: int
    columns: dict[str, ColumnPartial]
    sample_keys: np.ndarray
    sample: pa.Table  # the raw rows of the smallest keys, all columns, in key order

    def merge(self, other: ProfilePartial, spec: PartialSpec) -> ProfilePartial:
        cap = spec.max_categories + 1
        columns = {n: c.merge(other.columns[n], cap) for n, c in self.columns.items()}
        keys = np.concatenate([self.sample_keys, other.sample_keys])
        keep = bottom_k(keys, spec.sample_rows)
        sample = pa.concat_tables([self.sample, other.sample]).take(pa.array(keep))
        return ProfilePartial(self.rows + other.rows, columns, keys[keep], sample)


def kind_of(t: pa.DataType, forced_string: bool, is_timestamp: bool) -> str:
    """How a column of this Arrow type is profiled (the same for every partition: from the dataset schema)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if forced_string:
        return "string"
    if is_timestamp or pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    return "string"


def _number_partial(kind: str, col: pa.ChunkedArray, cap: int) -> ColumnPartial:
    c = coerce(col, "datetime" if kind == "datetime" else "numeric")
    values = np.asarray(c.values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    uniq, counts = np.unique(finite, return_counts=True)
    return ColumnPartial(kind, c.rows, c.nulls, c.unparseable, Moments.of(finite),
                         bool(np.isinf(values).any()), kll_bytes(finite) if finite.size else None,
                         dict(zip(uniq.tolist(), counts.tolist(), strict=True)) if uniq.size <= cap else None,
                         int(counts.max()) if counts.size else 0)


def _string_partial(kind: str, col: pa.ChunkedArray, cap: int) -> ColumnPartial:
    import pyarrow.compute as pc

    c = coerce(col, "categorical")
    vc = pc.value_counts(c.values.drop_null())
    keys, counts = vc.field("values").to_pylist(), vc.field("counts").to_pylist()
    return ColumnPartial(kind, c.rows, c.nulls, 0, counts=dict(zip(keys, counts, strict=True)) if len(keys) <= cap
                         else None, top_bound=max(counts, default=0))


def _bool_partial(col: pa.ChunkedArray) -> ColumnPartial:
    v = float64_numpy(col)
    v = v[~np.isnan(v)]
    trues = int(v.sum())
    return ColumnPartial("bool", len(col), len(col) - v.size, counts={"true": trues, "false": int(v.size - trues)},
                         top_bound=max(trues, int(v.size) - trues))


def profile_partial(table: pa.Table, part: str, start: int, spec: PartialSpec) -> ProfilePartial:
    """The partial profile of rows ``start ..`` of the file ``part`` (see ``stats.mergeable.row_keys``)."""
    cap = spec.max_categories + 1
    columns = {}
    for name, kind in spec.kinds.items():
        col = table.column(name)
        if kind in ("number", "datetime"):
            columns[name] = _number_partial(kind, col, cap)
        elif kind == "bool":
            columns[name] = _bool_partial(col)
        else:
            columns[name] = _string_partial(kind, col, cap)
    keys = row_keys(spec.seed, part, start, table.num_rows)
    keep = bottom_k(keys, spec.sample_rows)
    return ProfilePartial(table.num_rows, columns, keys[keep], table.take(pa.array(keep)))


def infer_from_counts(c: ColumnPartial, max_categories: int, text_unique_ratio: float) -> str:
    """``profile.infer_type`` from merged counts: the same decision, on the same numbers."""
    if c.kind == "bool":
        return "boolean"
    if c.kind in ("number", "datetime"):
        return "numeric" if c.kind == "number" else "datetime"
    if c.counts is None:
        return "text"
    lowered = {str(k).strip().lower() for k in c.counts}
    if lowered and len(lowered) <= 10 and lowered - {""} <= (TRUE_STRINGS | FALSE_STRINGS) \
            and lowered & TRUE_STRINGS and lowered & FALSE_STRINGS:
        return "boolean"
    distinct, n = len(c.counts), c.rows - c.nulls
    if c.rows == c.nulls:
        return "text"
    return "categorical" if distinct <= max_categories and (distinct <= 50 or distinct <= text_unique_ratio * n) \
        else "text"


def _quantiles_of_counts(values: np.ndarray, counts: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.quantile`` (linear interpolation) of the multiset holding ``values[i]`` ``counts[i]`` times."""
    cum = np.cumsum(counts)
    h = (cum[-1] - 1) * qs
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, cum[-1] - 1)
    a, b = values[np.searchsorted(cum, lo, side="right")], values[np.searchsorted(cum, hi, side="right")]
    t = h - lo
    # NumPy's own lerp: exact at both ends
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


def _finish_numeric(p: ColumnProfile, c: ColumnPartial, psi_bins: int, low_cardinality: int,
                    max_categories: int) -> None:
    """Exact from the value counts when the column has at most ``max_categories`` distinct values; quantiles
    and bin shares from the KLL sketch beyond."""
    p.has_infinity = c.has_infinity
    m = c.moments
    if m.n == 0:
        return
    p.mean, p.std, p.min, p.max = m.mean, m.std, m.min, m.max
    grid = np.linspace(0, 1, psi_bins + 1)
    if c.counts is not None:
        values = np.array(sorted(c.counts), dtype=np.float64)
        counts = np.array([c.counts[v] for v in values.tolist()], dtype=np.int64)
        qs = _quantiles_of_counts(values, counts, np.asarray(QUANTILES))
        edges = np.unique(_quantiles_of_counts(values, counts, grid))
        p.distinct = len(c.counts)
        p.top_share = float(counts.max() / m.n)
        if p.distinct <= low_cardinality:
            p.categories = {numeric_key(v): int(k) for v, k in zip(values.tolist(), counts.tolist(), strict=True)}
        cum = np.concatenate(([0], np.cumsum(counts)))
        shares = lambda inner: np.diff(np.concatenate(  # noqa: E731
            ([0], cum[np.searchsorted(values, inner, side="right")], [m.n]))) / m.n
    else:
        sketch = kll_load(c.sketch)
        qs = np.asarray(sketch.get_quantiles(list(QUANTILES)))
        edges = np.unique(np.concatenate(([m.min], sketch.get_quantiles(list(grid[1:-1])), [m.max])))
        p.distinct = max_categories + 1
        p.top_share = min(1.0, c.top_bound / m.n)
        shares = lambda inner: np.diff(np.concatenate(([0.0], sketch.get_cdf(list(inner), True)[:-1], [1.0])))  # noqa: E731
    p.quantiles = {f"p{int(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    if edges.size >= 3:
        p.psi_edges = [float(e) for e in edges]
        p.psi_proportions = [float(x) for x in shares(edges[1:-1])]


def finish_profile(name: str, logical_type: str, role: str, c: ColumnPartial, *, psi_bins: int,
                   low_cardinality: int, max_categories: int) -> ColumnProfile:
    """The column's profile from its merged partial, as ``profile.build_profile`` makes it from the column."""
    p = ColumnProfile(name=name, type=logical_type, role=role, count=c.rows, nulls=c.nulls + c.unparseable)
    if logical_type == "boolean" and c.kind == "string":
        trues = sum(k for v, k in c.counts.items() if str(v).strip().lower() in TRUE_STRINGS)
        falses = sum(k for v, k in c.counts.items() if str(v).strip().lower() in FALSE_STRINGS)
        p.nulls = c.rows - trues - falses
        c = ColumnPartial("bool", c.rows, p.nulls, counts={"true": trues, "false": falses})
    p.nullable = p.nulls > 0
    if logical_type in ("numeric", "datetime"):
        _finish_numeric(p, c, psi_bins, low_cardinality if logical_type == "numeric" else 0, max_categories)
    elif logical_type == "boolean":
        trues, falses = c.counts["true"], c.counts["false"]
        p.categories = {"true": trues, "false": falses}
        p.distinct = int((trues > 0) + (falses > 0))
        p.top_share = float(max(trues, falses) / (trues + falses)) if trues + falses else None
    elif logical_type == "categorical" and c.counts is None:
        # a forced category (an id) with more distinct values than the cap: which ones the local engine lists
        # depends on row order; here none are listed and all count as "other"
        p.other_count, p.distinct = c.rows - c.nulls, max_categories + 1
        p.top_share = min(1.0, c.top_bound / max(c.rows - c.nulls, 1))
    elif logical_type == "categorical":
        ranked = sorted(c.counts.items(), key=lambda kv: -kv[1])
        if ranked:
            p.categories = {str(k): int(v) for k, v in ranked[:max_categories]}
            p.other_count = int(sum(v for _, v in ranked[max_categories:]))
            p.distinct = int(min(len(ranked), max_categories + 1))
            p.top_share = float(ranked[0][1] / sum(v for _, v in ranked))
    elif logical_type == "text":
        p.distinct = len(c.counts) if c.counts is not None else max_categories + 1
    return p
