"""Validation of one batch against the baseline schema: each problem is a ``Finding``.

Count-based checks (nulls, out-of-range values, unseen categories, constant columns) combine two conditions,
like drift: the count must be implausible under the reference (a tail probability below ``significance``
divided by the columns checked, a Bonferroni correction) AND the share must exceed a documented threshold.
Either alone raises false alarms, at small or at large batches.

The rate a count is judged against is itself estimated from a finite reference, so the tail is the
beta-binomial one (the binomial averaged over what the reference leaves uncertain), not the binomial at a point
estimate: with a 300-row reference the share of new values outside its range is 2/301 on average but several
times that one time in a hundred, and the binomial tail raised out-of-range alarms on about 3% of healthy
100-row batches (measured on real data; tests/test_validation_rates.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from sentinel_tui.baseline.profile import ColumnProfile
from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.config import ValidationSettings
from sentinel_tui.io.coerce import Coerced, coerce
from sentinel_tui.model import AlertKind, Finding, Severity
from sentinel_tui.stats.discrete import beta_binomial_sf

MAX_LISTED = 50  # findings of one kind listed column by column; the rest are summed up in one finding
# Above this many cells the columns are coerced, sorted and counted on two worker threads (as drift does).
_PARALLEL_VALUES = 200_000


@dataclass(frozen=True)
class ValidationOutcome:
    findings: list[Finding]
    columns: dict[str, Coerced]  # present, expected, not ignored columns, coerced to the baseline type


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%" if x >= 0.001 else f"{x * 100:.2g}%"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _predictive_tail(k: int, n: int, seen: float, of: float) -> float:
    """P(X >= k) for the count X of n batch values that have a property ``seen`` of ``of`` reference values had:
    beta-binomial with Jeffreys' prior (a reference that never saw it still allows it, at about half a count)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return beta_binomial_sf(k - 1, n, seen + 0.5, max(of - seen, 0.0) + 0.5)


def _unseen_tail(k: int, n: int, reference_counts: list[int]) -> float:
    """P(at least k of n batch values have categories the reference never saw), under the reference.

    The share of the population in categories a reference of m values missed is estimated by Good and Turing
    as N1 / m (N1 the categories seen once): a reference full of one-off values (names, codes) makes new ones
    ordinary, one whose every category is common does not. The estimate is uncertain, with variance about
    (N1 + 2 N2 - N1^2 / m) / m^2 (N2 the categories seen twice; Esty 1983), more than a binomial share of m
    would have when rare categories abound: the rate is given a beta distribution with that mean and variance
    (never more certain than m draws) and the count its beta-binomial tail."""
    if k <= 0:
        return 1.0
    m = sum(reference_counts)
    once = sum(1 for v in reference_counts if v == 1)
    twice = sum(1 for v in reference_counts if v == 2)
    mean = (once + 0.5) / (m + 1)
    var = max(once + 2 * twice - once * once / max(m, 1), 0.5) / max(m, 1) ** 2
    concentration = min(mean * (1 - mean) / var - 1, m + 1)
    if concentration <= 0:
        return 1.0
    return beta_binomial_sf(k - 1, n, mean * concentration, (1 - mean) * concentration)


def _listed(findings: list[Finding], check: str, severity: Severity, kind: AlertKind, names: list[str],
            message: str) -> None:
    for name in names[:MAX_LISTED]:
        findings.append(Finding(check, severity, kind, message.format(name=name), column=name))
    rest = names[MAX_LISTED:]
    if rest:
        findings.append(Finding(check, severity, kind, f"{len(rest)} more columns: " + ", ".join(rest[:10])
                                + (" ..." if len(rest) > 10 else ""), values={"columns": rest}))


def schema_findings(baseline: Baseline, table: pa.Table, duplicates: dict[str, int]) -> list[Finding]:
    out: list[Finding] = []
    present = set(table.column_names)
    for name, times in duplicates.items():
        out.append(Finding("duplicate_column", Severity.CRITICAL, AlertKind.SCHEMA,
                           f"column '{name}' appears {times} times in the header; only the first is analysed",
                           column=name, values={"times": times}))
    missing = [c for c in baseline.columns.values() if c.role != "ignored" and c.name not in present]
    by_role: dict[str, list[str]] = {}
    for c in missing:
        by_role.setdefault(c.role, []).append(c.name)
    _listed(out, "missing_column", Severity.CRITICAL, AlertKind.SCHEMA, by_role.get("feature", []),
            "feature column '{name}' is missing")
    _listed(out, "missing_column", Severity.CRITICAL, AlertKind.SCHEMA, by_role.get("prediction", []),
            "prediction column '{name}' is missing")
    for role in ("id", "timestamp"):
        _listed(out, "missing_column", Severity.WARNING, AlertKind.SCHEMA, by_role.get(role, []),
                role + " column '{name}' is missing")
    # Labels often arrive later than predictions: a batch without them is normal.
    _listed(out, "missing_column", Severity.INFO, AlertKind.SCHEMA, by_role.get("target", []),
            "target column '{name}' is not in this batch (labels may arrive later)")
    unexpected = [n for n in table.column_names if n not in baseline.columns]
    _listed(out, "unexpected_column", Severity.WARNING, AlertKind.SCHEMA, unexpected,
            "column '{name}' is not in the baseline")
    return out


def _type_finding(p: ColumnProfile, c: Coerced, s: ValidationSettings) -> Finding | None:
    if c.unparseable == 0:
        return None
    share = c.unparseable / max(c.rows - c.nulls, 1)
    sev = Severity.CRITICAL if share >= s.type_error_critical else Severity.WARNING
    examples = ", ".join(repr(e) for e in c.bad_examples)
    return Finding("type_mismatch", sev, AlertKind.SCHEMA,
                   f"'{p.name}': {c.unparseable} of {c.rows - c.nulls} values ({_pct(share)}) are not {p.type}"
                   + (f", e.g. {examples}" if examples else ""),
                   column=p.name, values={"unparseable": c.unparseable, "share": share,
                                          "expected_type": p.type, "examples": c.bad_examples})


def _null_finding(p: ColumnProfile, c: Coerced, s: ValidationSettings) -> Finding | None:
    n = c.rows
    if n == 0 or c.nulls == 0:
        return None
    rate = c.nulls / n
    ref_rate = p.null_rate
    increase = rate - ref_rate
    if increase < s.null_increase_warning:
        return None
    p_value = _predictive_tail(c.nulls, n, p.nulls, p.count)
    if p_value >= s.significance:
        return None
    sev = Severity.CRITICAL if increase >= s.null_increase_critical else Severity.WARNING
    return Finding("null_rate", sev, AlertKind.DATA_QUALITY,
                   f"'{p.name}': {_pct(rate)} missing values (reference {_pct(ref_rate)})",
                   column=p.name, values={"null_rate": rate, "reference_null_rate": ref_rate,
                                          "nulls": c.nulls, "p_value": p_value})


def _numeric_findings(p: ColumnProfile, c: Coerced, s: ValidationSettings) -> list[Finding]:
    out: list[Finding] = []
    inf = c.infinite_count()
    if inf and not p.has_infinity:
        share = inf / c.rows
        sev = Severity.CRITICAL if share >= s.infinity_critical else Severity.WARNING
        out.append(Finding("infinity", sev, AlertKind.DATA_QUALITY,
                           f"'{p.name}': {inf} infinite values ({_pct(share)}); the reference had none",
                           column=p.name, values={"count": inf, "share": share}))
    n = c.finite_count()
    if n == 0 or p.min is None or p.max is None:
        return out
    outside = c.count_outside(p.min, p.max)
    share = outside / n
    # The share first: a value or two outside the range is common, and the tail probability is only needed
    # once the share could make a finding.
    if outside and share >= s.out_of_range_warning:
        # For continuous data the probability mass outside the range of m reference values is Beta(2, m - 1)
        # whatever the distribution (two order statistics of m uniforms), so the batch's count outside is
        # exactly beta-binomial (ties at the ends only make it rarer).
        m = p.values_count
        p_value = 0.0 if m < 2 else beta_binomial_sf(outside - 1, n, 2.0, m - 1.0)
        if p_value < s.significance:
            sev = Severity.CRITICAL if share >= s.out_of_range_critical else Severity.WARNING
            low, high = c.finite_range()
            out.append(Finding(
                "out_of_range", sev, AlertKind.DATA_QUALITY,
                f"'{p.name}': {_pct(share)} of values outside the reference range [{_fmt(p.min)}, "
                f"{_fmt(p.max)}] (batch min {_fmt(low)}, max {_fmt(high)})",
                column=p.name, values={"count": outside, "share": share, "reference_min": p.min,
                                       "reference_max": p.max, "batch_min": low,
                                       "batch_max": high, "p_value": p_value}))
    return out


def _constant_finding(p: ColumnProfile, c: Coerced, s: ValidationSettings) -> Finding | None:
    if p.distinct <= 1 or p.top_share is None:
        return None
    if c.logical_type in ("numeric", "boolean", "datetime"):
        n = c.finite_count()
        if n < 2:
            return None
        low, high = c.finite_range()
        if low != high:
            return None
        shown = _fmt(low)
    else:
        counts = c.category_counts
        n = sum(counts.values())
        if n < 2 or len(counts) != 1:
            return None
        shown = repr(next(iter(counts)))
    # Probability that n independent reference draws are all equal, at most top_share ** n.
    chance = p.top_share ** n
    if chance >= s.significance:
        return None
    return Finding("constant", Severity.WARNING, AlertKind.DATA_QUALITY,
                   f"'{p.name}' is constant ({shown}) in {n} rows; the reference had {p.distinct} values",
                   column=p.name, values={"rows": n, "reference_distinct": p.distinct, "chance": chance})


def _unseen_finding(p: ColumnProfile, c: Coerced, s: ValidationSettings) -> Finding | None:
    if p.other_count or not p.categories:
        return None  # the reference list is incomplete (capped), "unseen" cannot be told apart
    unseen = sorted(((k, n) for k, n in c.category_counts.items() if k not in p.categories),
                    key=lambda kv: -kv[1])
    if not unseen:
        return None
    rows = sum(n for _, n in unseen)
    share = rows / max(c.rows - c.nulls, 1)
    p_value = _unseen_tail(rows, c.rows - c.nulls, list(p.categories.values()))
    sev = (Severity.INFO if p_value >= s.significance
           else Severity.CRITICAL if share >= s.unseen_critical
           else Severity.WARNING if share >= s.unseen_warning else Severity.INFO)
    shown = ", ".join(f"{k!r} ({n})" for k, n in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
    return Finding("unseen_categories", sev, AlertKind.DATA_QUALITY,
                   f"'{p.name}': {len(unseen)} categories not in the reference, {_pct(share)} of rows: {shown}",
                   column=p.name, values={"categories": [k for k, _ in unseen[:20]], "count": len(unseen),
                                          "rows": rows, "share": share, "p_value": p_value})


def _prepared(p: ColumnProfile, col: pa.ChunkedArray) -> Coerced:
    """A column coerced to its baseline type with the costly parts the checks will ask of it (sorted finite
    values, category counts) computed, so a worker thread does them."""
    checked = p.role not in ("id", "timestamp")
    return coerce(col, p.type).derive(sort=checked and p.type == "numeric", count=checked and p.type == "categorical")


def _coerced(todo: deque, parallel: bool) -> Iterator[tuple[str, ColumnProfile, Coerced]]:
    """(name, profile, coerced column) in table order, each parsed column dropped once coerced. With
    ``parallel``, the next two columns are prepared on worker threads while this one is checked (NumPy's
    sort and Arrow's kernels release the GIL): three columns at most in flight, not the whole batch."""
    if not parallel:
        while todo:
            name, p, col = todo.popleft()
            c = coerce(col, p.type)
            del col
            yield name, p, c
            del c  # the caller keeps what it needs (a sorted copy, for a numeric feature)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque = deque()

        def submit() -> None:
            name, p, col = todo.popleft()
            pending.append((name, p, pool.submit(_prepared, p, col)))

        while todo and len(pending) < 2:
            submit()
        while pending:
            name, p, future = pending.popleft()
            if todo:
                submit()
            c = future.result()
            del future
            yield name, p, c
            del c


def validate(baseline: Baseline, table: pa.Table, duplicates: dict[str, int],
             settings: ValidationSettings) -> ValidationOutcome:
    """Schema, types, missing values, ranges, unseen categories. Without a performance section in the baseline
    nothing needs a numeric feature's values in row order after this, so only their sorted finite values are
    kept (the drift tests need those): a batch's numbers are in memory once, not twice."""
    keep_order = bool(baseline.meta.get("performance"))
    findings: list[Finding] = []
    if table.num_rows == 0:
        findings.append(Finding("empty_batch", Severity.CRITICAL, AlertKind.DATA_QUALITY,
                                "empty batch: the file has a header but no rows", values={"rows": 0}))
    findings.extend(schema_findings(baseline, table, duplicates))
    columns: dict[str, Coerced] = {}
    if table.num_rows == 0:
        return ValidationOutcome(findings, columns)
    # Column by column, each parsed column released once coerced: when the caller hands the table over
    # (keeps no reference of its own) the batch is never in memory twice.
    parallel = table.num_rows * table.num_columns >= _PARALLEL_VALUES
    todo = deque((name, p, table.column(name)) for name in table.column_names
                 if (p := baseline.columns.get(name)) is not None and p.role != "ignored")
    del table
    settings = per_column(settings, len(todo))
    for name, p, c in _coerced(todo, parallel):
        columns[name] = c
        findings.extend(column_findings(p, c, settings))
        if p.type == "numeric" and p.role == "feature" and not keep_order:
            columns[name] = c.sorted_only()
    return ValidationOutcome(findings, columns)


def column_findings(p: ColumnProfile, c: Coerced, settings: ValidationSettings) -> list[Finding]:
    """One column's findings; ``settings.significance`` already divided among the columns. ``c`` is a coerced
    column or the Dask engine's merged summary of one (the same questions, answered from partition counts)."""
    found = [_type_finding(p, c, settings), _null_finding(p, c, settings)]
    if p.role not in ("id", "timestamp"):  # new ids and times are expected: only type and missing values
        if p.type == "numeric":
            found.extend(_numeric_findings(p, c, settings))
        if p.type == "categorical":
            found.append(_unseen_finding(p, c, settings))
        if p.type in ("numeric", "categorical", "boolean"):
            found.append(_constant_finding(p, c, settings))
    return [f for f in found if f is not None]


def per_column(settings: ValidationSettings, columns: int) -> ValidationSettings:
    """Bonferroni across columns, as for drift: a healthy batch of any width raises a count finding with
    probability at most ``significance``, not that much per column (30 columns made it 3%)."""
    return replace(settings, significance=settings.significance / max(columns, 1))
