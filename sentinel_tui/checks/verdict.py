"""From findings and drift to the batch's alerts and status."""

from __future__ import annotations

from sentinel_tui.model import AlertKind, AlertRecord, DriftResult, Finding, Severity, Status, worst_status
from sentinel_tui.stats.univariate import cohens_h


def drift_message(f) -> str:  # f: FeatureDrift
    p = "<1e-300" if f.p_value == 0 else f"{f.p_value:.2g}"
    extra = ""
    shift = f.details.get("mean_shift_std")
    if shift is not None:
        extra = f", mean shift {shift:+.2f} std"
    unseen = f.details.get("unseen_share")
    if unseen:
        extra += f", {unseen * 100:.1f}% unseen categories"
    moved = _most_moved(f)
    if moved:
        extra += moved
    return (f"'{f.feature}' drifted: {f.test} p={p} (< {f.p_threshold:.2g}), {f.effect_size_name} "
            f"{f.effect_size:.3f} (>= {f.effect_threshold:g}){extra}")


def _most_moved(f) -> str:
    """", most moved 'x' 10.0% -> 1.0%" for a categorical feature: which class or segment the verdict is about
    (the category of the largest Cohen's h among those the distribution lists)."""
    if f.effect_size_name != "max_cohens_h":
        return ""
    dist = f.distribution or {}
    rows = [(label, ref, cur) for label, ref, cur in zip(dist.get("labels", []), dist.get("reference", []),
                                                         dist.get("batch", []), strict=False) if label != "(rest)"]
    if not rows:
        return ""
    label, ref, cur = max(rows, key=lambda r: cohens_h(r[1], r[2]))
    return f", most moved '{label}' {ref * 100:.1f}% -> {cur * 100:.1f}%"


def batch_alerts(findings: list[Finding], drift: DriftResult | None) -> list[AlertRecord]:
    alerts = [AlertRecord(f.kind, f.severity, f.column or f.check, f.message)
              for f in findings if f.severity >= Severity.WARNING]
    if drift is not None:
        for f in drift.features.values():
            if f.drifted and f.severity is not None:
                alerts.append(AlertRecord(AlertKind.DRIFT, f.severity, f.feature, drift_message(f)))
        # One alert on "dataset" for the batch as a whole: the drift share or the dataset test (which fires only
        # when no feature drifted, so it never adds a page to a feature's).
        parts, severity = [], None
        if drift.dataset_drift:
            parts.append(f"dataset drift: {drift.drifted_count} of {drift.tested_count} features drifted "
                         f"({drift.share * 100:.0f}% >= {drift.share_threshold * 100:.0f}%)")
            severity = Severity.CRITICAL
        evidence = drift.dataset_test
        if evidence is not None and evidence.fired and evidence.severity is not None:
            parts.append(evidence.message())
            severity = max(severity or evidence.severity, evidence.severity)
        if severity is not None:
            alerts.append(AlertRecord(AlertKind.DRIFT, severity, "dataset", "; ".join(parts)))
    return alerts


def batch_status(findings: list[Finding], drift: DriftResult | None) -> Status:
    statuses = [Status.from_severity(f.severity) for f in findings]
    if drift is not None:
        statuses.append(drift.status)
    return worst_status(statuses) if statuses else Status.OK
