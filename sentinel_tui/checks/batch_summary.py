"""A batch summarised partition by partition, for batches that never come together in one process (the Dask
engine). What validation and drift ask of a column is planned from the baseline first (``plan``); each partition
answers it (``summarise``), the answers merge by addition, and the merged ``ColumnSummary`` answers the checks'
questions as a coerced column would (``io.coerce.Coerced``): the same checks run on it unchanged.

Exact for the whole batch: counts (rows, missing, type mismatches, infinities, outside the reference range),
category and boolean counts, histograms on the reference bins, the mean and standard deviation (Chan's merge),
KS and Wasserstein-1 against the reference sample (``stats.counted``, a second pass for the intervals where the
two CDFs cross). Bounded: unseen categories are listed up to ``UNSEEN_CAP`` distinct values per batch (the rest
are counted under one key), a low-cardinality numeric feature's distinct values up to ``DISTINCT_CAP``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.checks.dataset_drift import clip_bounds
from sentinel_tui.checks.drift_tests import select
from sentinel_tui.config import DriftSettings
from sentinel_tui.io.coerce import coerce
from sentinel_tui.performance.partial import PerformancePartial, score_range
from sentinel_tui.performance.reference import PerformanceReference, labelled
from sentinel_tui.stats import counted
from sentinel_tui.stats.mergeable import Moments
from sentinel_tui.stats.univariate import NumericComparison, histogram_counts, ks_pvalue

UNSEEN_CAP = 10_000
DISTINCT_CAP = 10_000
MORE_UNSEEN = "(more unseen values)"
_EXAMPLES = 3


@dataclass(frozen=True)
class ColumnPlan:
    """What each partition computes for one column."""

    name: str
    logical_type: str
    known: frozenset[str] = frozenset()  # categorical: the reference's categories
    range: tuple[float, float] | None = None  # numeric: the reference [min, max]
    edges: np.ndarray | None = None  # numeric: the PSI bin edges
    clip: tuple[float, float] | None = None  # numeric feature: the dataset test's clipping bounds
    centre: float = 0.0
    points: counted.ReferencePoints | None = None  # a KS-tested feature: the reference's distinct values
    values: bool = False  # a numeric feature tested on its few distinct values (chi-square): count them


def plan(baseline: Baseline, s: DriftSettings) -> dict[str, ColumnPlan]:
    out = {}
    for p in baseline.columns.values():
        if p.role == "ignored":
            continue
        kw: dict = {}
        if p.type == "categorical":
            kw["known"] = frozenset(p.categories)
        if p.type in ("numeric", "datetime"):
            kw["range"] = (p.min, p.max) if p.min is not None and p.max is not None else None
            kw["edges"] = np.asarray(p.psi_edges) if p.psi_edges else None
            if p.name in baseline.sample.column_names and p.role in ("feature", "prediction", "score"):
                test = select(p, s)
                ref = baseline.sorted_reference(p.name)
                if test is not None and test.name == "ks" and ref.size:
                    kw["centre"], kw["points"] = ref.centre, counted.ReferencePoints.of(ref.values)
                kw["values"] = test is not None and test.name != "ks"
                if p.role == "feature":
                    kw["clip"] = clip_bounds(baseline, p)
        out[p.name] = ColumnPlan(p.name, p.type, **kw)
    return out


@dataclass
class ColumnSummary:
    """One column of a batch, merged over its partitions; duck-types ``Coerced`` for the checks."""

    logical_type: str
    rows: int = 0
    nulls: int = 0
    unparseable: int = 0
    bad_examples: list[str] = field(default_factory=list)
    moments: Moments = field(default_factory=Moments)
    infinite: int = 0
    trues: int = 0
    outside: int = 0
    clipped: float = 0.0
    histogram_counts: np.ndarray | None = None
    distinct: dict | None = field(default_factory=dict)  # finite value -> count (None past DISTINCT_CAP)
    category_counts: dict = field(default_factory=dict)
    ecdf: counted.EcdfCounts | None = None
    plan: ColumnPlan | None = None
    crossing: tuple | None = None  # (intervals, ranks, their values) after the second pass

    def merge(self, o: ColumnSummary) -> ColumnSummary:
        counts = dict(self.category_counts)
        for k, v in o.category_counts.items():
            counts[k] = counts.get(k, 0) + v
        counts = _cap_unseen(counts, self.plan.known if self.plan else frozenset())
        distinct = None
        if self.distinct is not None and o.distinct is not None:
            distinct = dict(self.distinct)
            for k, v in o.distinct.items():
                distinct[k] = distinct.get(k, 0) + v
            distinct = distinct if len(distinct) <= DISTINCT_CAP else None
        return ColumnSummary(
            self.logical_type, self.rows + o.rows, self.nulls + o.nulls, self.unparseable + o.unparseable,
            (self.bad_examples + o.bad_examples)[:_EXAMPLES], self.moments.merge(o.moments),
            self.infinite + o.infinite, self.trues + o.trues, self.outside + o.outside, self.clipped + o.clipped,
            None if self.histogram_counts is None else self.histogram_counts + o.histogram_counts, distinct,
            counts, None if self.ecdf is None else self.ecdf.merge(o.ecdf), self.plan)

    # --- what the checks ask (see io.coerce.Coerced) ---
    def finite_count(self) -> int:
        return self.moments.n

    def infinite_count(self) -> int:
        return self.infinite

    def finite_range(self) -> tuple[float, float]:
        return self.moments.min, self.moments.max

    def finite_mean(self) -> float:
        return self.moments.mean

    def finite_std(self) -> float:
        return self.moments.std

    def true_count(self) -> int:
        return self.trues

    def count_outside(self, lo: float, hi: float) -> int:
        assert self.plan.range == (lo, hi), "asked for a range that was not planned"
        return self.outside

    def clipped_sum(self, lo: float, hi: float) -> float:
        assert self.plan.clip == (lo, hi), "asked for clipping bounds that were not planned"
        return self.clipped

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        return self.histogram_counts

    def distinct_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self.distinct is None:  # more than DISTINCT_CAP values: they are not the reference's few anyway
            return np.array([np.nan]), np.array([self.moments.n])
        keys = sorted(self.distinct)
        return np.array(keys, dtype=np.float64), np.array([self.distinct[k] for k in keys], dtype=np.int64)

    def compare(self, ref) -> NumericComparison:
        pts, ec = self.plan.points, self.ecdf
        intervals, ranks, inside = self.crossing
        d = counted.ks_statistic(pts, ec)
        return NumericComparison(d, float(ks_pvalue(d, ec.n, pts.m)),
                                 counted.wasserstein(pts, ec, intervals, ranks, inside))


def _cap_unseen(counts: dict, known: frozenset[str]) -> dict:
    unseen = [k for k in counts if k not in known and k != MORE_UNSEEN]
    if len(unseen) <= UNSEEN_CAP:
        return counts
    keep = set(sorted(unseen, key=lambda k: -counts[k])[:UNSEEN_CAP])
    out = {k: v for k, v in counts.items() if k in known or k in keep}
    out[MORE_UNSEEN] = counts.get(MORE_UNSEEN, 0) + sum(v for k, v in counts.items()
                                                          if k not in known and k not in keep and k != MORE_UNSEEN)
    return out


def _summarise_column(col: pa.ChunkedArray, cp: ColumnPlan, kept: dict | None = None) -> ColumnSummary:
    c = coerce(col, cp.logical_type)
    out = ColumnSummary(cp.logical_type, c.rows, c.nulls, c.unparseable, list(c.bad_examples[:_EXAMPLES]),
                        plan=cp)
    if cp.logical_type in ("categorical", "text"):
        if cp.logical_type == "categorical":
            out.category_counts = _cap_unseen(dict(c.category_counts), cp.known)
        return out
    x = c.finite_sorted
    out.moments = Moments.of(x)
    out.infinite = c.infinite_count()
    if cp.logical_type == "boolean":
        out.trues = int(x.sum())
        return out
    if cp.range is not None:
        out.outside = c.count_outside(*cp.range)
    if cp.clip is not None:
        out.clipped = c.clipped_sum(*cp.clip)
    if cp.edges is not None:
        out.histogram_counts = histogram_counts(x, cp.edges)
    if cp.values:
        values, counts = c.distinct_values()
        out.distinct = dict(zip(values.tolist(), counts.tolist(), strict=True)) if values.size <= DISTINCT_CAP \
            else None
    if cp.points is not None:
        centred = x - cp.centre
        out.ecdf = counted.ecdf_counts(centred, cp.points.u)
        if kept is not None:
            kept[cp.name] = centred
    return out


@dataclass(frozen=True)
class PerformancePlan:
    """Model performance of a batch with labels: the reference and the logical types of its columns."""

    reference: PerformanceReference
    types: dict[str, str]
    score_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def of(cls, baseline: Baseline) -> PerformancePlan | None:
        perf = baseline.performance
        return None if perf is None else cls.from_profiles(perf, baseline.columns)

    @classmethod
    def from_profiles(cls, perf: PerformanceReference, profiles: dict) -> PerformancePlan:
        names = [perf.target, perf.prediction, *([perf.score] if perf.score else []), *perf.proba_columns]
        return cls(perf, {n: profiles[n].type for n in names if n in profiles}, score_range(perf, profiles))


@dataclass
class BatchSummary:
    rows: int
    columns: dict[str, ColumnSummary]
    names: list[str]  # the batch's columns, in file order
    performance: PerformancePartial | None = None  # when the batch has labels and predictions

    def merge(self, o: BatchSummary) -> BatchSummary:
        perf = None if self.performance is None or o.performance is None else self.performance.merge(o.performance)
        return BatchSummary(self.rows + o.rows, {n: c.merge(o.columns[n]) for n, c in self.columns.items()},
                            self.names, perf)


def summarise(table: pa.Table, part: str, plans: dict[str, ColumnPlan], perf: PerformancePlan | None = None
              ) -> tuple[BatchSummary, dict]:
    """Pass one over a partition: its summary, and the sorted (centred) values of its KS-tested columns, which
    the second pass reads instead of the file (the engine keeps them on the worker between the passes)."""
    kept: dict[str, np.ndarray] = {}
    summary = BatchSummary(table.num_rows, {n: _summarise_column(table.column(n), cp, kept)
                                            for n, cp in plans.items() if n in table.column_names},
                           list(table.column_names))
    if perf is not None:
        summary.performance = performance_partial(table, perf)
    return summary, kept


def performance_partial(table: pa.Table, perf: PerformancePlan) -> PerformancePartial | None:
    """A partition's performance counts (None when it has no labels or predictions)."""
    ref = perf.reference
    if ref.target not in table.column_names or ref.prediction not in table.column_names:
        return None
    columns = {n: coerce(table.column(n), t) for n, t in perf.types.items() if n in table.column_names}
    return PerformancePartial.of(ref, *labelled(ref, columns), perf.score_range)


def crossing_requests(summary: BatchSummary) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per KS-tested column, the intervals where the CDFs cross and the crossing ranks (for the second pass)."""
    out = {}
    for n, c in summary.columns.items():
        if c.ecdf is not None:
            out[n] = counted.crossings(c.plan.points, c.ecdf) if c.ecdf.n else (np.zeros(0, np.int64),) * 2
    return out


def interior(kept: dict[str, np.ndarray], plans: dict[str, ColumnPlan], wanted: dict[str, np.ndarray]) -> dict:
    """Pass two over a partition's kept values: those inside the crossing intervals of each column."""
    return {n: counted.interior_values(kept[n], plans[n].points.u, intervals) for n, intervals in wanted.items()}


def merge_interior(parts: list[dict]) -> dict:
    """The partitions' pass-two values, merged at once (pairwise merges would copy the growing whole each time)."""
    return {n: counted.merge_all([p[n] for p in parts]) for n in parts[0]} if parts else {}


def attach_crossings(summary: BatchSummary, requests: dict, inside: dict) -> None:
    none = counted.Interior(np.zeros(0), np.zeros(0, np.int64))
    for n, (intervals, ranks) in requests.items():
        summary.columns[n].crossing = (intervals, ranks, inside.get(n, none))

