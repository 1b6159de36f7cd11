"""Result dataclasses and enums shared by every layer (stdlib only).

These are the plain, immutable values that flow out of the checks and into reports, the store and
the dashboard. Their JSON form (``to_dict``) is the documented report schema, see ``report_schema.json``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.1"  # 1.1: batch kind and the embedding section (frame batches)


class Severity(enum.IntEnum):
    """How bad one finding or feature is. INFO findings are reported but never change a status."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(enum.IntEnum):
    """Overall verdict; the integer is the monitoring-plugin exit status (Nagios/Icinga convention)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_severity(cls, severity: Severity | None) -> Status:
        if severity is None or severity == Severity.INFO:
            return cls.OK
        return cls.WARNING if severity == Severity.WARNING else cls.CRITICAL


def worst_status(statuses: list[Status]) -> Status:
    """UNKNOWN only wins when nothing is known; otherwise the worst of OK/WARNING/CRITICAL."""
    known = [s for s in statuses if s != Status.UNKNOWN]
    if known:
        return max(known)
    return Status.UNKNOWN if statuses else Status.OK


class AlertKind(enum.StrEnum):
    SCHEMA = "schema"
    DATA_QUALITY = "data_quality"
    DRIFT = "drift"
    PERFORMANCE = "performance"
    EMBEDDING = "embedding"
    PIPELINE = "pipeline"
    PREDICTION_DRIFT = "prediction_drift"


def iso_utc(t: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC to the second, as every machine-readable output writes times."""
    if t is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _num(x: float | None) -> float | None:
    """JSON has no NaN/inf: they become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Finding:
    """One validation problem in one batch."""

    check: str  # e.g. "missing_column", "null_rate", "unseen_categories"
    severity: Severity
    kind: AlertKind
    message: str  # one line, human readable
    column: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the numbers behind the verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.label,
            "kind": self.kind.value,
            "column": self.column,
            "message": self.message,
            "values": {k: (_num(v) if isinstance(v, float) else v) for k, v in self.values.items()},
        }


@dataclass(frozen=True)
class FeatureDrift:
    """The drift verdict for one feature: significance AND materiality."""

    feature: str
    logical_type: str
    test: str  # "ks", "chi2", "two_proportion_z"
    statistic: float
    p_value: float
    p_threshold: float  # the per-feature threshold after the multiple-testing correction
    effect_size_name: str  # "wasserstein_norm", "max_cohens_h", "cohens_h" (earlier results: "jensen_shannon")
    effect_size: float
    effect_threshold: float
    drifted: bool
    severity: Severity | None  # None when not drifted
    rows: int  # non-null batch values the test used
    details: dict[str, float | None] = field(default_factory=dict)  # psi, mean shift, std ratio, unseen share
    # Reference and batch shares on the same bins (numeric: reference deciles; categorical: top categories,
    # then "(other)" and "(unseen)"), so a report or screen can show the two distributions side by side.
    distribution: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.logical_type,
            "test": self.test,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "p_threshold": _num(self.p_threshold),
            "effect_size_name": self.effect_size_name,
            "effect_size": _num(self.effect_size),
            "effect_threshold": _num(self.effect_threshold),
            "drifted": self.drifted,
            "severity": self.severity.label if self.severity is not None else None,
            "rows": self.rows,
            "details": {k: _num(v) for k, v in self.details.items()},
            "distribution": self.distribution,
        }

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> FeatureDrift:
        """The inverse of ``to_dict`` (for results reloaded from the store)."""
        nan = float("nan")
        sev = d.get("severity")
        return cls(feature=name, logical_type=d.get("type", ""), test=d.get("test", ""),
                   statistic=_or_nan(d.get("statistic")), p_value=_or_nan(d.get("p_value")),
                   p_threshold=_or_nan(d.get("p_threshold")), effect_size_name=d.get("effect_size_name", ""),
                   effect_size=_or_nan(d.get("effect_size")), effect_threshold=d.get("effect_threshold") or nan,
                   drifted=bool(d.get("drifted")), severity=Severity[sev.upper()] if sev else None,
                   rows=int(d.get("rows") or 0), details=dict(d.get("details") or {}),
                   distribution=dict(d.get("distribution") or {}))


def _or_nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class DatasetEvidence:
    """The dataset-level test of one batch (checks/dataset_drift.py): the batch as a whole against the reference."""

    test: str  # "mean_shift" (Mahalanobis distance of the mean vector) or "cauchy" (combined p-values)
    statistic: float
    p_value: float
    p_threshold: float  # its share of alpha
    effect: float | None  # mean_shift: distance in reference standard deviations, chance level removed
    effect_threshold: float | None
    fired: bool  # significant, material, and not already explained by drifted features: raises the alert
    severity: Severity | None
    dimensions: int  # encoded dimensions (mean_shift) or p-values combined (cauchy)
    rows: int
    top: list[dict[str, Any]] = field(default_factory=list)  # the features whose means moved most
    explained: bool = False  # features drifted: the batch alerts through them, this test only reports

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "statistic": _num(self.statistic), "p_value": _num(self.p_value),
                "p_threshold": _num(self.p_threshold), "effect": _num(self.effect),
                "effect_threshold": _num(self.effect_threshold), "fired": self.fired,
                "severity": self.severity.label if self.severity is not None else None,
                "dimensions": self.dimensions, "rows": self.rows, "top": list(self.top),
                "explained": self.explained}

    def message(self) -> str:
        p = "<1e-300" if self.p_value == 0 else f"{self.p_value:.2g}"
        moved = ", ".join(f"'{t['feature']}'" + (f"={t['category']}" if t.get("category") else "")
                          + f" {t['shift_std']:+.2f} std" for t in self.top)
        if self.test == "cauchy":
            return f"dataset shift: combined p={p} (< {self.p_threshold:.2g}) over {self.dimensions} features"
        return (f"dataset shift: the batch's mean moved {self.effect:.2f} std (>= {self.effect_threshold:g}) "
                f"across {self.dimensions} dimensions, p={p} (< {self.p_threshold:.2g})"
                + (f"; most: {moved}" if moved else ""))


@dataclass(frozen=True)
class DriftResult:
    """Per-feature drift plus the dataset verdict."""

    features: dict[str, FeatureDrift]
    share: float  # drifted features / tested features
    drifted_count: int
    tested_count: int
    dataset_drift: bool  # share >= the configured drift share
    share_threshold: float
    status: Status
    skipped: dict[str, str] = field(default_factory=dict)  # feature -> why it was not tested
    dataset_test: DatasetEvidence | None = None  # the batch as a whole (None: not configured or not possible)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_test": self.dataset_test.to_dict() if self.dataset_test is not None else None,
            "share": _num(self.share),
            "drifted_count": self.drifted_count,
            "tested_count": self.tested_count,
            "dataset_drift": self.dataset_drift,
            "share_threshold": self.share_threshold,
            "status": self.status.label,
            "features": {name: f.to_dict() for name, f in self.features.items()},
            "skipped": dict(self.skipped),
        }


@dataclass(frozen=True)
class AlertRecord:
    """An alert as a check raises it for one batch (the engine adds open/resolve life cycle on top)."""

    kind: AlertKind
    severity: Severity
    subject: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.label,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass(frozen=True)
class PerformanceResult:
    """Model quality on the labelled rows of a batch (check) or of the rolling window (watch)."""

    task: str  # binary | multiclass | regression
    status: str  # ok | degraded | insufficient_labels | no_labels
    labelled_rows: int
    metrics: dict[str, Any] | None  # ClassificationMetrics / RegressionMetrics as a dict
    reference: dict[str, Any] | None  # the same metrics on the reference
    degraded: dict[str, bool] = field(default_factory=dict)  # metric -> degraded
    intervals: dict[str, list[float]] = field(default_factory=dict)  # metric -> [low, high] (95%)
    severity: Severity | None = None
    message: str = ""
    scope: str = "batch"  # batch | window
    change_point: dict[str, Any] | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "status": self.status, "scope": self.scope, "labelled_rows": self.labelled_rows,
                "metrics": self.metrics, "reference": self.reference, "degraded": dict(self.degraded),
                "intervals": {k: [_num(v[0]), _num(v[1])] for k, v in self.intervals.items()},
                "severity": self.severity.label if self.severity is not None else None, "message": self.message,
                "change_point": self.change_point, "segments": list(self.segments)}


@dataclass(frozen=True)
class EmbeddingResult:
    """Embedding drift of one frame batch, with the image statistics that explain it."""

    frames: int  # frames analysed
    score: float  # share of PCA components whose KS test rejected (after Bonferroni)
    drifted_components: int
    components: int
    score_threshold: float  # verdict FAIL at score >= this
    p_threshold: float  # per-component p-value threshold (alpha / components)
    drifted: bool  # the verdict: FAIL
    severity: Severity | None
    mmd2: float  # unbiased squared MMD (RBF, median-heuristic bandwidth) on the PCA projections
    mmd_p_value: float
    mmd_permutations: int
    distance: float  # Euclidean distance between the mean embeddings
    distance_null_p99: float  # what healthy batches of this size reach (99th percentile, reference resampling)
    component_p_values: tuple[float, ...]
    image_stats: dict[str, FeatureDrift]  # brightness, contrast, sharpness, noise, colourfulness
    changes: dict[str, float]  # relative change of each statistic's median vs the reference
    explanation: str  # "frames darker (brightness -38%) and blurrier (sharpness -71%)"
    model: dict[str, Any] = field(default_factory=dict)  # name, input size, weights source and sha256

    @property
    def verdict(self) -> str:
        return "FAIL" if self.drifted else "PASS"

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames, "verdict": self.verdict, "score": _num(self.score),
            "score_threshold": self.score_threshold, "drifted_components": self.drifted_components,
            "components": self.components, "p_threshold": _num(self.p_threshold),
            "severity": self.severity.label if self.severity is not None else None,
            "mmd": {"mmd2": _num(self.mmd2), "p_value": _num(self.mmd_p_value),
                    "permutations": self.mmd_permutations},
            "distance": _num(self.distance), "distance_null_p99": _num(self.distance_null_p99),
            "component_p_values": [_num(p) for p in self.component_p_values],
            "image_stats": {name: {**f.to_dict(), "change": _num(self.changes.get(name))}
                            for name, f in self.image_stats.items()},
            "explanation": self.explanation,
            "model": dict(self.model),
        }


@dataclass(frozen=True)
class BatchResult:
    """Everything Sentinel concluded about one batch."""

    file: str
    rows: int
    columns: int
    status: Status
    findings: tuple[Finding, ...]
    drift: DriftResult | None  # None when the batch could not be analysed (unreadable, empty, broken schema)
    alerts: tuple[AlertRecord, ...]
    seconds: float = 0.0
    performance: PerformanceResult | None = None
    prediction_drift: DriftResult | None = None
    kind: str = "table"  # table | frames
    embedding: EmbeddingResult | None = None  # frame batches

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows": self.rows,
            "columns": self.columns,
            "status": self.status.label,
            "validation": [f.to_dict() for f in self.findings],
            "drift": self.drift.to_dict() if self.drift is not None else None,
            "alerts": [a.to_dict() for a in self.alerts],
            "seconds": round(self.seconds, 4),
            "performance": self.performance.to_dict() if self.performance is not None else None,
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift is not None else None,
            "embedding": self.embedding.to_dict() if self.embedding is not None else None,
        }
