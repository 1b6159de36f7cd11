"""Column profiles: the schema and reference statistics of one column, as stored in ``baseline.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from sentinel_tui.io.coerce import FALSE_STRINGS, TRUE_STRINGS, Coerced

ROLES = ("feature", "target", "prediction", "score", "id", "timestamp", "ignored")
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class ColumnProfile:
    name: str
    type: str  # numeric | categorical | boolean | datetime | text
    role: str = "feature"
    count: int = 0  # rows in the reference
    nulls: int = 0
    nullable: bool = False
    distinct: int = 0  # capped at max_categories + 1 for strings
    # numeric and datetime
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    psi_edges: list[float] = field(default_factory=list)
    psi_proportions: list[float] = field(default_factory=list)
    has_infinity: bool = False
    # categorical, boolean, and numeric with few distinct values: value -> count (keys are strings)
    categories: dict[str, int] = field(default_factory=dict)
    other_count: int = 0  # rows whose category was beyond the stored top ``max_categories``
    top_share: float | None = None  # share of the most frequent value

    @property
    def null_rate(self) -> float:
        return self.nulls / self.count if self.count else 0.0

    @property
    def values_count(self) -> int:
        return self.count - self.nulls

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["null_rate"] = self.null_rate
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def numeric_key(v: float) -> str:
    """The category key of a numeric value (for low-cardinality numeric features)."""
    return repr(int(v)) if float(v).is_integer() else repr(float(v))


def _fill_numeric(p: ColumnProfile, values: np.ndarray, psi_bins: int, low_cardinality: int,
                  max_categories: int) -> None:
    finite = values[np.isfinite(values)]
    p.has_infinity = bool(np.isinf(values).any())
    if finite.size == 0:
        return
    p.mean = float(finite.mean())
    p.std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    p.min, p.max = float(finite.min()), float(finite.max())
    qs = np.quantile(finite, QUANTILES)
    p.quantiles = {f"p{int(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    uniq, counts = np.unique(finite, return_counts=True)
    # Capped like a text column's: beyond max_categories nothing depends on the number, and the capped count is
    # what a merge of partial profiles can give exactly (baseline/partials.py).
    p.distinct = int(min(uniq.size, max_categories + 1))
    p.top_share = float(counts.max() / finite.size)
    if uniq.size <= low_cardinality:
        p.categories = {numeric_key(v): int(c) for v, c in zip(uniq, counts, strict=True)}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, psi_bins + 1)))
    if edges.size >= 3:
        inner = edges[1:-1]
        cuts = np.searchsorted(np.sort(finite), inner, side="right")
        bounds = np.concatenate(([0], cuts, [finite.size]))
        p.psi_edges = [float(e) for e in edges]
        p.psi_proportions = [float(c) for c in np.diff(bounds) / finite.size]


def _fill_categorical(p: ColumnProfile, values: pa.Array, max_categories: int) -> None:
    import pyarrow.compute as pc  # building a baseline only: a check loads profiles without it (25 ms)

    vc = pc.value_counts(values.drop_null())
    if len(vc) == 0:
        return
    keys = vc.field("values").to_pylist()
    counts = np.asarray(vc.field("counts").to_numpy(), dtype=np.int64)
    order = np.argsort(-counts, kind="stable")
    top = order[:max_categories]
    p.categories = {str(keys[i]): int(counts[i]) for i in top}
    p.other_count = int(counts[order[max_categories:]].sum())
    p.distinct = int(min(len(keys), max_categories + 1))
    p.top_share = float(counts.max() / counts.sum())


def build_profile(name: str, logical_type: str, role: str, col: Coerced, *, psi_bins: int,
                  low_cardinality: int, max_categories: int) -> ColumnProfile:
    p = ColumnProfile(name=name, type=logical_type, role=role, count=col.rows,
                      nulls=col.nulls + col.unparseable)
    p.nullable = p.nulls > 0
    if logical_type in ("numeric", "datetime"):
        _fill_numeric(p, col.values, psi_bins, low_cardinality if logical_type == "numeric" else 0, max_categories)
    elif logical_type == "boolean":
        v = col.values[~np.isnan(col.values)]
        trues = int(v.sum())
        p.categories = {"true": trues, "false": int(v.size - trues)}
        p.distinct = int((trues > 0) + (v.size - trues > 0))
        p.top_share = float(max(trues, v.size - trues) / v.size) if v.size else None
    elif logical_type == "categorical":
        _fill_categorical(p, col.values, max_categories)
    elif logical_type == "text":
        import pyarrow.compute as pc

        p.distinct = int(min(pc.count_distinct(col.values).as_py(), max_categories + 1))
    return p


def infer_type(col: pa.ChunkedArray, forced_categorical: bool, max_categories: int,
               text_unique_ratio: float) -> str:
    t = col.type
    if forced_categorical:
        return "categorical"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_null(t):
        return "text"
    import pyarrow.compute as pc

    non_null = col.drop_null()
    n = len(non_null)
    distinct_values = pc.unique(pc.utf8_lower(pc.utf8_trim_whitespace(non_null)))
    lowered = set(distinct_values.to_pylist()[:20]) - {""}
    if lowered and len(distinct_values) <= 10 and lowered <= (TRUE_STRINGS | FALSE_STRINGS) \
            and lowered & TRUE_STRINGS and lowered & FALSE_STRINGS:
        return "boolean"
    distinct = pc.count_distinct(non_null).as_py()
    if distinct <= max_categories and (distinct <= 50 or distinct <= text_unique_ratio * n):
        return "categorical"
    return "text"
