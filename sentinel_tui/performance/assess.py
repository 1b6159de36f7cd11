"""Model performance against the reference, and prediction drift.

Performance needs labels; prediction drift does not (it compares the distribution of the model's outputs
with the reference, which is often the first sign of trouble while labels are still on their way).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import sentinel_tui.performance.metrics as mx
from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.checks.drift import detect_drift
from sentinel_tui.config import PerformanceSettings, Settings
from sentinel_tui.io.coerce import Coerced
from sentinel_tui.model import AlertKind, AlertRecord, DriftResult, PerformanceResult, Severity
from sentinel_tui.performance.reference import PerformanceReference, compute_metrics, labelled
from sentinel_tui.stats.mergeable import Moments

# A monitor checks many batches: at 95% a healthy batch would fall outside its interval for 1 metric in 20.
CONFIDENCE = 0.999
_Z = 3.290527  # two-sided normal quantile for CONFIDENCE


@dataclass(frozen=True)
class Evidence:
    """What the verdict needs of a batch's labelled rows; every field merges over partitions
    (``performance.partial``), so the Dask engine reaches the same verdict without the rows together."""

    n: int
    metrics: dict[str, Any]
    correct: int = 0  # classification: rows whose prediction equals the label
    positive_counts: tuple[int, int, int, int] | None = None  # binary: tp, fp, fn, tn of the positive class
    abs_error: Moments | None = None  # regression: |prediction - label|


def evidence(perf: PerformanceReference, t: np.ndarray, p: np.ndarray, s: np.ndarray | None) -> Evidence:
    n = int(len(t))
    metrics = compute_metrics(perf, t, p, s) if n else {}
    if perf.regression:
        return Evidence(n, metrics, abs_error=Moments.of(np.abs(p - t)))
    return Evidence(n, metrics, int(np.sum(t == p)),
                    positive_counts(t == perf.positive, p == perf.positive) if perf.task == "binary" else None)


def positive_counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    """tp, fp, fn, tn of truth ``a`` and prediction ``b`` (booleans: is the positive class)."""
    return int((a & b).sum()), int((~a & b).sum()), int((a & ~b).sum()), int((~a & ~b).sum())


def _f1_interval(counts4: tuple[int, int, int, int], reps: int, rng: np.random.Generator) -> tuple[float, float]:
    """Bootstrap interval of F1. F1 depends on the rows only through the confusion counts, so resampling
    rows is the same as drawing the counts from a multinomial: 2,000 resamples cost microseconds."""
    counts = np.asarray(counts4, dtype=np.float64)
    draws = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=reps)
    tp, fp, fn = draws[:, 0], draws[:, 1], draws[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(f1, tail)), float(np.percentile(f1, 100 - tail))


def assess(perf: PerformanceReference, t: np.ndarray, p: np.ndarray, s: np.ndarray | None,
           settings: PerformanceSettings, scope: str = "batch", seed: int = 0) -> PerformanceResult:
    """Metrics of labelled rows against the reference, with the degradation verdict."""
    return judge(perf, evidence(perf, t, p, s), settings, scope, seed)


def judge(perf: PerformanceReference, ev: Evidence, settings: PerformanceSettings, scope: str = "batch",
          seed: int = 0) -> PerformanceResult:
    task, reference = perf.task, perf.metrics or None
    n, metrics = ev.n, ev.metrics
    if n == 0:
        return PerformanceResult(task, "no_labels", 0, None, reference, scope=scope,
                                 message="no labelled rows")
    if n < settings.min_labels:
        return PerformanceResult(task, "insufficient_labels", n, metrics, reference, scope=scope,
                                 message=f"{n} labelled rows, fewer than performance.min_labels="
                                         f"{settings.min_labels}: no verdict")
    degraded: dict[str, bool] = {}
    intervals: dict[str, list[float]] = {}
    drops: dict[str, float] = {}
    tol = settings.accuracy_tolerance
    if task == "regression":
        # one row has no spread to judge by: a NaN interval, no verdict (as the sample std of one value)
        mae, half = ev.abs_error.mean, _Z * ev.abs_error.std / np.sqrt(n) if n > 1 else float("nan")
        intervals["mae"] = [mae - half, mae + half]
        ref_mae = (reference or {}).get("mae")
        if ref_mae is not None:
            degraded["mae"] = mae > ref_mae * (1 + settings.error_tolerance) and mae - half > ref_mae
            drops["mae"] = (mae - ref_mae) / ref_mae if ref_mae else 0.0
    else:
        intervals["accuracy"] = list(mx.wilson_interval(ev.correct, n, z=_Z))
        ref_acc = (reference or {}).get("accuracy")
        if ref_acc is not None:
            degraded["accuracy"] = metrics["accuracy"] < ref_acc - tol and intervals["accuracy"][1] < ref_acc
            drops["accuracy"] = ref_acc - metrics["accuracy"]
        ref_f1 = (reference or {}).get("f1")
        if task == "binary" and ref_f1 is not None and metrics.get("f1") is not None:
            intervals["f1"] = list(_f1_interval(ev.positive_counts, settings.bootstrap,
                                                np.random.default_rng(seed)))
            degraded["f1"] = metrics["f1"] < ref_f1 - tol and intervals["f1"][1] < ref_f1
            drops["f1"] = ref_f1 - metrics["f1"]
    bad = [k for k, v in degraded.items() if v]
    if not bad:
        return PerformanceResult(task, "ok", n, metrics, reference, degraded, intervals, scope=scope,
                                 message=_summary(task, metrics, reference, n))
    limit = settings.error_tolerance if task == "regression" else tol
    severity = Severity.CRITICAL if any(drops[k] > 2 * limit for k in bad) else Severity.WARNING
    message = "; ".join(_degraded_message(k, metrics, reference, intervals[k], n) for k in bad)
    return PerformanceResult(task, "degraded", n, metrics, reference, degraded, intervals, severity, message,
                             scope=scope)


def _summary(task: str, metrics: dict[str, Any], reference: dict[str, Any] | None, n: int) -> str:
    key = "mae" if task == "regression" else "accuracy"
    ref = (reference or {}).get(key)
    ref_text = f" (reference {ref:.3f})" if ref is not None else ""
    return f"{key} {metrics[key]:.3f}{ref_text} on {n} labelled rows"


def _degraded_message(key: str, metrics: dict[str, Any], reference: dict[str, Any] | None,
                      interval: list[float], n: int) -> str:
    return (f"{key} {reference[key]:.3f} -> {metrics[key]:.3f} ({CONFIDENCE:.1%} CI {interval[0]:.3f}-"
            f"{interval[1]:.3f}, {n} labelled rows)")


def batch_performance(baseline: Baseline, columns: dict[str, Coerced], settings: Settings
                      ) -> PerformanceResult | None:
    perf = baseline.performance
    if perf is None or perf.target not in columns or perf.prediction not in columns:
        return None
    t, p, s = labelled(perf, columns)
    return assess(perf, t, p, s, settings.performance)


def prediction_drift(baseline: Baseline, columns: dict[str, Coerced], settings: Settings) -> DriftResult | None:
    roles = baseline.roles
    names = [roles.get("prediction"), *(c.name for c in baseline.columns.values() if c.role == "score")]
    profiles = [baseline.columns[n] for n in dict.fromkeys(names) if n and n in baseline.columns and n in columns]
    if not profiles:
        return None
    # The model's outputs are tested one by one, with all of alpha: the dataset-level test is for the features.
    # The predicted class gets half of it and the probability columns share the rest: ten per-class
    # probabilities would otherwise leave the model's decision a 1/11 share, and a class vanishing from 100-row
    # batches of a 10-class model was caught in 1 of 20 (now 20 of 20).
    reserved = {roles["prediction"]: 0.5} if roles.get("prediction") else None
    return detect_drift(baseline, columns, replace(settings.drift, dataset_test="none"), profiles, reserved)


def performance_alerts(perf: PerformanceResult | None, pred: DriftResult | None) -> list[AlertRecord]:
    out: list[AlertRecord] = []
    if perf is not None and perf.status == "degraded" and perf.severity is not None:
        for key, bad in perf.degraded.items():
            if bad:
                out.append(AlertRecord(AlertKind.PERFORMANCE, perf.severity, key, perf.message))
    if pred is not None:
        from sentinel_tui.checks.verdict import drift_message

        for f in pred.features.values():
            if f.drifted and f.severity is not None:
                out.append(AlertRecord(AlertKind.PREDICTION_DRIFT, f.severity, f.feature,
                                       "prediction drift: " + drift_message(f)))
    return out
