"""The registry of per-feature drift tests: which test a feature gets, what it measures and how it is judged.

Each entry of ``REGISTRY`` is one test: the features it applies to, the function that measures a batch against
the reference, the effect size it reports and the ``[drift]`` settings holding its warning and critical
thresholds, with the reason for their defaults. A feature gets the first entry that applies to it, in registry
order; a feature no entry applies to is skipped. Adding a statistic is one function plus one entry here (and
the row ``drift_test_table()`` renders for it in the README, which a test keeps in step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from sentinel_tui.baseline.profile import ColumnProfile, numeric_key
from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.config import DriftSettings
from sentinel_tui.io.coerce import Coerced
from sentinel_tui.stats import univariate as uv

_SHOWN_CATEGORIES = 12  # categories listed in a feature's distribution; the rest are summed


@dataclass(frozen=True)
class Measured:
    """What a test measured on one feature's batch, before the multiple-testing correction is known."""

    statistic: float
    p_value: float
    effect: float
    rows: int  # non-null batch values the test used
    details: dict[str, float | None]
    distribution: dict[str, list] = field(default_factory=dict)
    variant: str | None = None  # the reported test name when it is not the entry's (Fisher's exact test)


# A test function measures a batch column against its reference, or says in a sentence why it cannot.
Measure = Callable[[Baseline, ColumnProfile, Coerced, DriftSettings], Measured | str]


@dataclass(frozen=True)
class DriftTest:
    """One registry entry. The ``*_text`` fields are its row of the README's table of drift tests."""

    name: str  # the test's name in results and JSON (FeatureDrift.test)
    applies_to: Callable[[ColumnProfile, DriftSettings], bool]
    measure: Measure
    effect_size_name: str  # FeatureDrift.effect_size_name
    warning: str  # the DriftSettings field holding the warning threshold of the effect size
    critical: str  # ... and the critical one
    why_defaults: str  # why the thresholds' defaults are what they are
    applies_to_text: str  # may name DriftSettings fields in braces, e.g. {low_cardinality}
    test_text: str
    effect_size_text: str
    also_reported_text: str

    def thresholds(self, s: DriftSettings) -> tuple[float, float]:
        """(warning, critical) effect-size thresholds under these settings."""
        return getattr(s, self.warning), getattr(s, self.critical)


def _short(x: float) -> str:
    return f"{x:.3g}"


def _bin_labels(p: ColumnProfile) -> tuple[list[str], list[float]]:
    """Bin labels and reference shares of a numeric profile, built once (the same for every batch)."""
    cached = getattr(p, "_bin_labels", None)  # derived, not a field: never written to the baseline
    if cached is None:
        edges = p.psi_edges
        labels = [f"{_short(edges[i])}..{_short(edges[i + 1])}" for i in range(len(edges) - 1)]
        cached = (labels, [round(v, 5) for v in p.psi_proportions])
        p._bin_labels = cached
    return cached


def _numeric(baseline: Baseline, p: ColumnProfile, c: Coerced, s: DriftSettings) -> Measured | str:
    n = c.finite_count()
    if n < s.min_rows:
        return f"{n} finite values, fewer than drift.min_rows={s.min_rows}"
    ref = baseline.sorted_reference(p.name)
    if ref.size < s.min_rows:
        return "reference sample has too few finite values"
    cmp = c.compare(ref)
    std = p.std or 0.0
    scale = std if std > 0 else max(abs(p.mean or 0.0), 1.0) * 1e-9
    mean = c.finite_mean()
    details: dict[str, float | None] = {
        "reference_mean": p.mean,
        "batch_mean": mean,
        "mean_shift_std": (mean - (p.mean or 0.0)) / scale,
        "std_ratio": c.finite_std() / std if std > 0 and n > 1 else None,
        "ks_statistic": cmp.ks_statistic,
    }
    distribution: dict[str, list] = {}
    if p.psi_edges:
        counts = c.histogram(np.asarray(p.psi_edges))
        details["psi"] = uv.psi(np.asarray(p.psi_proportions), counts)
        labels, reference = _bin_labels(p)
        distribution = {"labels": labels, "reference": reference,
                        "batch": np.round(counts / n, 5).tolist()}
    return Measured(cmp.ks_statistic, cmp.p_value, cmp.wasserstein / scale, n, details, distribution)


def category_counts(p: ColumnProfile, c: Coerced) -> tuple[np.ndarray, np.ndarray, int, int] | str:
    """Aligned (reference, batch) counts with an 'other' and an 'unseen' bin; plus the batch n and unseen n."""
    keys = list(p.categories)
    index = {k: i for i, k in enumerate(keys)}
    ref = np.zeros(len(keys) + 2)
    ref[: len(keys)] = list(p.categories.values())
    ref[len(keys)] = p.other_count
    cur = np.zeros(len(keys) + 2)
    if p.type == "numeric":
        values, counts = c.distinct_values()
        pairs = zip((numeric_key(u) for u in values), counts.tolist(), strict=True)
    else:
        pairs = c.category_counts.items()
    unseen = 0
    for key, n in pairs:
        i = index.get(key)
        if i is None:
            # Beyond a capped reference list an unknown value may be one of the uncounted categories.
            if p.other_count:
                cur[len(keys)] += n
            else:
                cur[len(keys) + 1] += n
                unseen += n
        else:
            cur[i] += n
    total = int(cur.sum())
    if total == 0:
        return "no values"
    return ref, cur, total, unseen


def _categorical(baseline: Baseline, p: ColumnProfile, c: Coerced, s: DriftSettings) -> Measured | str:
    aligned = category_counts(p, c)
    if isinstance(aligned, str):
        return aligned
    ref, cur, total, unseen = aligned
    if total < s.min_rows:
        return f"{total} values, fewer than drift.min_rows={s.min_rows}"
    if ref.sum() == 0:  # every reference cell was missing: no distribution to compare with
        return "no values in the reference"
    tested = uv.category_test(ref, cur)
    res = tested.chi2
    ref_p = ref / ref.sum()
    cur_p = cur / cur.sum()
    # Materiality per category: the largest Cohen's h between one category's reference and batch shares. A
    # distance over the whole distribution (Jensen-Shannon) shrinks as categories are added: a 30% category
    # gaining 10 points scores JS 0.07, under Evidently's 0.1, while its h is 0.21 at any cardinality.
    with np.errstate(invalid="ignore"):
        h = uv.cohens_h(ref_p, cur_p)
    details = {
        "unseen_share": unseen / total,
        "psi": uv.psi(ref_p, cur),
        "jensen_shannon": uv.jensen_shannon(ref, cur),
        "pooled_bins": float(res.merged_bins),
        "dof": float(res.dof),
        "chi2_p_value": res.p_value,
    }
    labels = [*p.categories, "(other)", "(unseen)"]
    if tested.largest is not None:
        details["largest_category_p_value"] = tested.largest
    order = [i for i in np.argsort(-(ref_p + cur_p), kind="stable") if ref_p[i] + cur_p[i] > 0]
    top, rest = order[:_SHOWN_CATEGORIES], order[_SHOWN_CATEGORIES:]
    distribution = {"labels": [labels[i] for i in top] + (["(rest)"] if rest else []),
                    "reference": [round(float(ref_p[i]), 5) for i in top] + ([round(float(ref_p[rest].sum()), 5)]
                                                                           if rest else []),
                    "batch": [round(float(cur_p[i]), 5) for i in top] + ([round(float(cur_p[rest].sum()), 5)]
                                                                       if rest else [])}
    return Measured(res.statistic, tested.p_value, float(np.nanmax(h)), total, details, distribution)


def _boolean(baseline: Baseline, p: ColumnProfile, c: Coerced, s: DriftSettings) -> Measured | str:
    n = c.finite_count()
    if n < s.min_rows:
        return f"{n} values, fewer than drift.min_rows={s.min_rows}"
    trues = c.true_count()
    ref_true = p.categories.get("true", 0)
    ref_n = ref_true + p.categories.get("false", 0)
    res = uv.two_proportions(ref_true, ref_n, trues, n)
    share = trues / n
    details = {"reference_share_true": ref_true / ref_n if ref_n else None,
               "batch_share_true": share, "fisher_exact": float(res.exact)}
    ref_share = ref_true / ref_n if ref_n else 0.0
    distribution = {"labels": ["true", "false"], "reference": [round(ref_share, 5), round(1 - ref_share, 5)],
                    "batch": [round(share, 5), round(1 - share, 5)]}
    return Measured(res.statistic, res.p_value, res.cohens_h, n, details, distribution,
                    variant="fisher_exact" if res.exact else None)


def _as_categories(p: ColumnProfile, s: DriftSettings) -> bool:
    """Categorical features, and numeric ones with few distinct values: KS on a handful of values is very
    conservative, so they are compared as categories."""
    if p.type == "numeric":
        return bool(p.categories and p.distinct <= s.low_cardinality)
    return p.type == "categorical"


REGISTRY: tuple[DriftTest, ...] = (
    DriftTest(
        name="chi2", applies_to=_as_categories, measure=_categorical, effect_size_name="max_cohens_h",
        warning="categorical_effect_warning", critical="categorical_effect_critical",
        why_defaults="Cohen's \"small\" and \"medium\", as for booleans; per category, so a share that moves "
                     "as much means as much whatever the number of categories (Jensen-Shannon, Evidently's "
                     "measure, shrinks as categories are added)",
        applies_to_text="categorical, and numeric with at most {low_cardinality} distinct values",
        test_text="chi-square test of homogeneity on counts (categories whose expected batch count is below 5 "
                  "are pooled, Cochran's rule, so small batches do not produce false alarms), together with a test "
                  "of the category whose share moved most (Fisher's exact test of its count, times the number of "
                  "categories); the smaller p-value, doubled. One category vanishing "
                  "or surging (a class gone from the predictions) is not diluted over k-1 degrees of freedom",
        effect_size_text="the largest Cohen's h between one category's reference and batch shares",
        also_reported_text="Jensen-Shannon distance, PSI, share of unseen categories"),
    DriftTest(
        name="ks", applies_to=lambda p, s: p.type == "numeric", measure=_numeric,
        effect_size_name="wasserstein_norm", warning="numeric_effect_warning", critical="numeric_effect_critical",
        why_defaults="a mean shift of k std scores k; 0.1 is Evidently's default",
        applies_to_text="numeric, more than {low_cardinality} distinct reference values",
        test_text="two-sample Kolmogorov-Smirnov against the reference sample (exact statistic; SciPy's exact "
                  "distribution below an effective size of 30, Stephens' corrected limit above)",
        effect_size_text="Wasserstein-1 distance / reference std",
        also_reported_text="PSI on reference deciles, mean shift in std, std ratio"),
    DriftTest(
        name="two_proportion_z", applies_to=lambda p, s: p.type == "boolean", measure=_boolean,
        effect_size_name="cohens_h", warning="boolean_effect_warning", critical="boolean_effect_critical",
        why_defaults="Cohen's \"small\" and \"medium\"",
        applies_to_text="boolean",
        test_text="two-proportion z-test (`fisher_exact`: Fisher's exact test when an expected count is below 5)",
        effect_size_text="Cohen's h",
        also_reported_text="both shares"),
)
# Features no entry applies to, and why (their skip reason is "<type> columns are not drift-tested").
NOT_TESTED = ("datetime, text", "not tested: time always moves, free text needs a text model", "listed as skipped")


def select(p: ColumnProfile, s: DriftSettings) -> DriftTest | None:
    """The first registry entry that applies to the feature, or None when it is not drift-tested."""
    return next((t for t in REGISTRY if t.applies_to(p, s)), None)


def drift_test_table() -> str:
    """The README's table of drift tests, rendered from the registry and the default settings."""
    d = DriftSettings()
    rows = ["| feature type | test | effect size | default warning / critical thresholds | also reported |",
            "|---|---|---|---|---|"]
    for t in REGISTRY:
        warning, critical = t.thresholds(d)
        rows.append(f"| {t.applies_to_text.format(**asdict(d))} | `{t.name}`: {t.test_text} | "
                    f"{t.effect_size_text} (`{t.effect_size_name}`) | {warning:g} / {critical:g}: {t.why_defaults} | "
                    f"{t.also_reported_text} |")
    rows.append(f"| {NOT_TESTED[0]} | {NOT_TESTED[1]} | | | {NOT_TESTED[2]} |")
    return "\n".join(rows) + "\n"
