"""Model performance metrics with NumPy (no scikit-learn): classification, regression, intervals and a
streaming change detector. Pure functions on arrays."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClassificationMetrics:
    rows: int
    labels: list[str]  # class order of the confusion matrix
    accuracy: float
    precision: float | None  # binary: of the positive class
    recall: float | None
    f1: float | None
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class_recall: dict[str, float | None]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    roc_auc: float | None = None  # when a positive-class score is given (binary)
    log_loss: float | None = None
    positive: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RegressionMetrics:
    rows: int
    mae: float
    rmse: float
    mape: float | None  # over rows whose true value is not 0
    r2: float | None
    mape_rows_excluded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


# Up to this many classes, one vectorised comparison per class (1.4 ms per class at 100,000 rows) is faster
# than a dictionary lookup per row (6 ms); pandas' hash table would be faster still but costs a `check`
# process 0.2-0.3 s of import.
_COMPARE_CLASSES = 4


def class_codes(values: np.ndarray, labels: list[str]) -> np.ndarray:
    """Index of each value in ``labels`` (-1 when absent or missing)."""
    values = np.asarray(values, dtype=object)
    if len(labels) <= _COMPARE_CLASSES:
        codes = np.full(values.size, -1, dtype=np.int64)
        for i, label in enumerate(labels):
            codes[values == label] = i
        return codes
    index = {label: i for i, label in enumerate(labels)}
    return np.fromiter((index.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> np.ndarray:
    """Counts with one bincount: index = true * k + predicted. Values not in ``labels`` are left out."""
    k = len(labels)
    t = class_codes(y_true, labels)
    p = class_codes(y_pred, labels)
    ok = (t >= 0) & (p >= 0)
    return np.bincount(t[ok] * k + p[ok], minlength=k * k).reshape(k, k)


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve from ranks (Mann-Whitney U), ties given average ranks."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s)  # tie groups get average ranks below, so sort stability does not matter
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # average rank of each group of equal scores
    starts = np.flatnonzero(np.concatenate(([True], sorted_s[1:] != sorted_s[:-1])))
    ends = np.concatenate((starts[1:], [s.size]))
    avg = (starts + ends + 1) / 2.0  # 1-based average of positions start+1 .. end
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


_EPS = 1e-15  # probabilities are clipped to [eps, 1 - eps] before their logarithm


def binary_losses(is_pos: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each row's log loss for the positive-class probability ``score`` (the Dask engine sums them)."""
    y = np.asarray(is_pos, dtype=np.float64)
    p = np.clip(np.asarray(score, dtype=np.float64), _EPS, 1 - _EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def log_loss(y_true: np.ndarray, score: np.ndarray) -> float | None:
    losses = binary_losses(y_true, score)
    return float(np.mean(losses)) if losses.size else None


def multiclass_losses(y_true: np.ndarray, proba: np.ndarray, labels: list[str]) -> np.ndarray:
    """Each row's log loss of its true class (rows renormalised; rows of an unknown class left out)."""
    rows = proba / np.clip(proba.sum(axis=1, keepdims=True), _EPS, None)
    idx = class_codes(y_true, labels)
    ok = idx >= 0
    return -np.log(np.clip(rows[np.flatnonzero(ok), idx[ok]], _EPS, 1.0))


def positive_label(labels: list[str], positive: str | None) -> str:
    """The positive class of two labels: the one given, else the second."""
    return positive if positive in labels else labels[1]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str] | None = None,
                           positive: str | None = None, score: np.ndarray | None = None) -> ClassificationMetrics:
    """``y_true`` and ``y_pred`` as strings (class labels); ``score`` the positive-class probability."""
    y_true = np.asarray(y_true, dtype=object)
    y_pred = np.asarray(y_pred, dtype=object)
    labels = labels or sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    cm = confusion_matrix(y_true, y_pred, labels)
    auc = ll = None
    if len(labels) == 2 and score is not None:
        pos = positive_label(labels, positive)
        score = np.asarray(score)[:, labels.index(pos)] if np.ndim(score) == 2 else score
        auc, ll = roc_auc(y_true == pos, score), log_loss(y_true == pos, score)
    elif score is not None and np.ndim(score) == 2:
        auc, ll = _multiclass_scores(y_true, np.asarray(score, dtype=np.float64), labels)
    return from_confusion(cm, labels, positive, auc, ll)


def _defined_mean(x: np.ndarray) -> float:
    """The mean of the defined values, NaN when there are none (np.nanmean would warn on stderr, where a cron
    job's mail collects it: a batch whose every true class went unpredicted has no defined precision)."""
    defined = x[~np.isnan(x)]
    return float(defined.mean()) if defined.size else float("nan")


def from_confusion(cm: np.ndarray, labels: list[str], positive: str | None, auc: float | None = None,
                   ll: float | None = None) -> ClassificationMetrics:
    """The metrics of a confusion matrix (rows: true class, columns: predicted, in ``labels`` order); the Dask
    engine merges partitions' matrices and finishes them here, as the local engine does."""
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    precision = _safe_div(tp, cm.sum(axis=0).astype(np.float64))
    recall = _safe_div(tp, cm.sum(axis=1).astype(np.float64))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    f1 = np.where(np.isnan(f1) & ~np.isnan(precision) & ~np.isnan(recall), 0.0, f1)
    present = cm.sum(axis=1) > 0  # macro averages over classes that occur in the truth
    macro = [_defined_mean(x[present]) for x in (precision, recall, np.nan_to_num(f1, nan=0.0))]
    pos_p = pos_r = pos_f = None
    if len(labels) == 2:
        positive = positive_label(labels, positive)
        i = labels.index(positive)
        pos_p, pos_r, pos_f = (float(x[i]) for x in (precision, recall, f1))
    return ClassificationMetrics(
        rows=n, labels=[str(x) for x in labels], accuracy=float(tp.sum() / n) if n else float("nan"),
        precision=pos_p, recall=pos_r, f1=pos_f, macro_precision=macro[0], macro_recall=macro[1],
        macro_f1=macro[2], per_class_recall={str(lab): float(r) for lab, r in zip(labels, recall, strict=True)},
        confusion=cm.tolist(), roc_auc=auc, log_loss=ll, positive=positive if len(labels) == 2 else None)


def _multiclass_scores(y_true: np.ndarray, proba: np.ndarray, labels: list[str]) -> tuple[float | None, float]:
    """Macro one-vs-rest ROC AUC over the classes present, and the multiclass log loss (rows renormalised)."""
    aucs = [roc_auc(y_true == lab, proba[:, i]) for i, lab in enumerate(labels)]
    aucs = [a for a in aucs if a is not None]
    losses = multiclass_losses(y_true, proba, labels)
    return (float(np.mean(aucs)) if aucs else None), float(np.mean(losses)) if losses.size else None


def spread(m2: float, n: int, mean: float) -> bool:
    """Whether labels vary more than rounding can make them: constant labels (0.1 everywhere) give a sum of
    squared deviations of about 1e-33, not 0, and an R^2 of -1e33 that means nothing (no R^2 then). A standard
    deviation under 1e-12 of the mean is rounding (float64 carries 16 digits; sums lose a few)."""
    return m2 > 0 and m2 > n * (1e-12 * abs(mean)) ** 2


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> RegressionMetrics:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    err = p - t
    nonzero = t != 0
    var = float(np.sum((t - t.mean()) ** 2)) if t.size else 0.0
    return RegressionMetrics(
        rows=int(t.size), mae=float(np.mean(np.abs(err))) if t.size else float("nan"),
        rmse=float(np.sqrt(np.mean(err ** 2))) if t.size else float("nan"),
        mape=float(np.mean(np.abs(err[nonzero] / t[nonzero]))) if nonzero.any() else None,
        r2=1 - float(np.sum(err ** 2)) / var if spread(var, t.size, float(t.mean()) if t.size else 0.0) else None,
        mape_rows_excluded=int((~nonzero).sum()))


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (well behaved near 0 and 1 and at small n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ChangePoint:
    detected: bool
    alarm_index: int | None  # row (in the stream given) where the detector fired
    start_index: int | None  # row where the increase most likely began
    statistic: float = 0.0
    details: dict[str, float] = field(default_factory=dict)


def page_hinkley(x: np.ndarray, delta: float = 0.005, threshold: float = 50.0, min_instances: int = 30
                 ) -> ChangePoint:
    """Page-Hinkley test for an increase of the mean of ``x`` (e.g. per-row errors), vectorised.

    m_t = sum_{i<=t} (x_i - mean_i - delta), M_t = min_{i<=t} m_i; alarm when m_t - M_t > threshold.
    Defaults are river's (delta 0.005, threshold 50, 30 instances before any alarm).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size <= min_instances:
        return ChangePoint(False, None, None)
    running_mean = np.cumsum(x) / np.arange(1, x.size + 1)
    m = np.cumsum(x - running_mean - delta)
    low = np.minimum.accumulate(m)
    stat = m - low
    stat[:min_instances] = 0.0
    over = np.flatnonzero(stat > threshold)
    if over.size == 0:
        return ChangePoint(False, None, None, float(stat.max()))
    alarm = int(over[0])
    # Where it began: the CUSUM change-point estimate on the data up to the alarm (the argmin of the
    # cumulative deviation from the mean of that prefix: the split that best separates a lower mean before
    # from a higher one after).
    prefix = x[: alarm + 1]
    start = int(np.argmin(np.cumsum(prefix - prefix.mean()))) + 1
    return ChangePoint(True, alarm, start, float(stat[alarm]), {"delta": delta, "threshold": threshold})
