"""Model performance of a batch from partitions that never come together (the Dask engine): each partition
counts what the metrics and the verdict need, the counts merge by addition, and the merged ones give the local
engine's metrics and verdict (``assess.judge``).

Exact: the confusion matrix (so accuracy, precision, recall, F1 and their macro averages), the positive-class
counts the F1 interval is drawn from, log loss, and every regression metric (sums of errors and Chan-merged
moments of the label for R^2). ROC AUC is exact from the scores' value counts per class while there are at most
``SCORE_VALUES`` distinct scores (a model rounded to a few decimals, a tree ensemble). Past that it comes from
``SCORE_BINS`` equal bins over the reference's score range (outside values in the end bins), counting a pair in
one bin as a tie; the error is at most half the share of positive-negative pairs that share a bin, computed from
the same counts and stored beside it (``roc_auc_error``, typically 1e-5; past ``MAX_AUC_ERROR``, when scores
pile up outside the reference's range, AUC is left out). The verdict never reads AUC.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import sentinel_tui.performance.metrics as mx
from sentinel_tui.performance.assess import Evidence, positive_counts
from sentinel_tui.performance.reference import PerformanceReference
from sentinel_tui.stats.mergeable import Moments, merge_counts

SCORE_VALUES = 10_000
SCORE_BINS = 1 << 16
MAX_AUC_ERROR = 1e-3  # a binned AUC less certain than this is not shown (its bound still is)


@dataclass
class PerformancePartial:
    n: int = 0
    correct: int = 0
    confusion: np.ndarray | None = None  # classification, in the reference's label order
    positive: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))  # binary: tp, fp, fn, tn
    loss_sum: float = 0.0
    loss_rows: int = 0
    # ROC AUC per class (binary: the positive class only): score value counts of the class's rows and the rest
    scores: list[tuple[dict | None, dict | None]] | None = None
    binned: np.ndarray | None = None  # [class, 0: the class's rows / 1: the rest, bin] counts
    abs_error: Moments = field(default_factory=Moments)  # regression
    squared_error: float = 0.0
    relative_error: float = 0.0  # sum of |error / label| over labels that are not 0
    zero_labels: int = 0
    truth: Moments = field(default_factory=Moments)
    # A reference without classes (no label or prediction in it): the batch's own (label, prediction) pairs,
    # whose classes make the matrix as the local engine's do
    pairs: dict | None = None

    @classmethod
    def of(cls, perf: PerformanceReference, t: np.ndarray, p: np.ndarray, s: np.ndarray | None,
           score_range: tuple[float, float] = (0.0, 1.0)) -> PerformancePartial:
        """One partition's labelled rows (``reference.labelled``); ``score_range``: the reference's scores'."""
        n = int(len(t))
        if perf.regression:
            err = p - t
            nonzero = t != 0
            return cls(n, abs_error=Moments.of(np.abs(err)), squared_error=float(np.sum(err ** 2)),
                       relative_error=float(np.sum(np.abs(err[nonzero] / t[nonzero]))),
                       zero_labels=int((~nonzero).sum()), truth=Moments.of(t))
        labels = list(perf.labels)
        out = cls(n, int(np.sum(t == p)), mx.confusion_matrix(t, p, labels))
        if not labels:  # no classes to score against either: AUC and log loss stay None
            out.pairs = dict(Counter(zip(t.tolist(), p.tolist(), strict=True)))
            return out
        if perf.task == "binary":
            out.positive = np.asarray(positive_counts(t == perf.positive, p == perf.positive), np.int64)
        if s is not None:
            out.scores, out.binned, out.loss_sum, out.loss_rows = _scores(perf, labels, t, s, score_range)
        return out

    def merge(self, o: PerformancePartial) -> PerformancePartial:
        scores = None
        if self.scores is not None and o.scores is not None:
            scores = [(merge_counts(a, c, SCORE_VALUES), merge_counts(b, d, SCORE_VALUES))
                      for (a, b), (c, d) in zip(self.scores, o.scores, strict=True)]
        binned = None if self.binned is None or o.binned is None else self.binned + o.binned
        return PerformancePartial(
            self.n + o.n, self.correct + o.correct,
            None if self.confusion is None else self.confusion + o.confusion, self.positive + o.positive,
            self.loss_sum + o.loss_sum, self.loss_rows + o.loss_rows, scores, binned,
            self.abs_error.merge(o.abs_error),
            self.squared_error + o.squared_error, self.relative_error + o.relative_error,
            self.zero_labels + o.zero_labels, self.truth.merge(o.truth),
            None if self.pairs is None else dict(Counter(self.pairs) + Counter(o.pairs)))

    def evidence(self, perf: PerformanceReference) -> Evidence:
        n = self.n
        if n == 0:
            return Evidence(0, {})
        if perf.regression:
            rows = n - self.zero_labels
            metrics = mx.RegressionMetrics(
                rows=n, mae=self.abs_error.mean, rmse=float(np.sqrt(self.squared_error / n)),
                mape=self.relative_error / rows if rows else None,
                r2=1 - self.squared_error / self.truth.m2
                if mx.spread(self.truth.m2, n, self.truth.mean) else None,
                mape_rows_excluded=self.zero_labels).to_dict()
            return Evidence(n, metrics, abs_error=self.abs_error)
        auc = ll = error = None
        if self.scores is not None:
            ll = self.loss_sum / self.loss_rows if self.loss_rows else None
            if all(a is not None and b is not None for a, b in self.scores):
                aucs = [_auc(a, b) for a, b in self.scores]
            else:
                binned = [_binned_auc(h[0], h[1]) for h in self.binned]
                aucs = [a for a, _ in binned]
                error = max((e for a, e in binned if a is not None), default=None)
            present = [a for a in aucs if a is not None]
            auc = float(np.mean(present)) if present else None
            if error is not None and error > MAX_AUC_ERROR:  # scores piled into few bins (outside the range)
                auc = None
        labels, confusion = list(perf.labels), self.confusion
        if self.pairs is not None:
            labels = sorted({x for pair in self.pairs for x in pair})
            index = {lab: i for i, lab in enumerate(labels)}
            confusion = np.zeros((len(labels), len(labels)), np.int64)
            for (a, b), k in self.pairs.items():
                confusion[index[a], index[b]] += k
        metrics = mx.from_confusion(confusion, labels, perf.positive, auc, ll).to_dict()
        if error is not None:
            metrics["roc_auc_error"] = error
        counts = tuple(int(x) for x in self.positive) if perf.task == "binary" else None
        return Evidence(n, metrics, self.correct, counts)


def _scores(perf: PerformanceReference, labels: list[str], t: np.ndarray, s: np.ndarray,
            score_range: tuple[float, float]) -> tuple[list, np.ndarray, float, int]:
    """Score counts per class (exact and binned) and the log loss sum, as ``metrics.classification_metrics``
    reads scores."""
    if len(labels) == 2:  # as metrics.classification_metrics: one label's scores; else one column per label
        positive = mx.positive_label(labels, perf.positive)
        score = s[:, labels.index(positive)] if np.ndim(s) == 2 else s
        per_class = [(score, t == positive)]
        losses = mx.binary_losses(t == positive, score)
    elif np.ndim(s) == 2:
        per_class = [(s[:, i], t == lab) for i, lab in enumerate(labels)]
        losses = mx.multiclass_losses(t, s, labels)
    else:
        return [], np.zeros((0, 2, 1), np.int64), 0.0, 0
    return ([(_value_counts(x[y]), _value_counts(x[~y])) for x, y in per_class], _bins(per_class, score_range),
            float(losses.sum()), int(losses.size))


def _bins(per_class: list[tuple[np.ndarray, np.ndarray]], score_range: tuple[float, float]) -> np.ndarray:
    lo, hi = score_range
    bins = SCORE_BINS // len(per_class)  # about 1 MB of counts whatever the number of classes
    width = (hi - lo) / bins if hi > lo else 1.0
    out = np.zeros((len(per_class), 2, bins), np.int64)
    for i, (x, y) in enumerate(per_class):
        b = np.clip(np.floor((x - lo) / width), 0, bins - 1).astype(np.int64)
        out[i, 0] = np.bincount(b[y], minlength=bins)
        out[i, 1] = np.bincount(b[~y], minlength=bins)
    return out


def _binned_auc(cp: np.ndarray, cn: np.ndarray) -> tuple[float | None, float]:
    """AUC with a pair in one bin counted as a tie, and the most that can differ from the exact value."""
    auc = _counted_auc(cp, cn)
    if auc is None:
        return None, 0.0
    return auc, float(0.5 * (cp * cn.astype(np.float64)).sum() / (float(cp.sum()) * float(cn.sum())))


def _counted_auc(cp: np.ndarray, cn: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative) + half the ties: the Mann-Whitney form of ROC AUC, from the
    positives' and negatives' counts at the same ordered values (or bins)."""
    pairs = float(cp.sum()) * float(cn.sum())
    if pairs == 0:
        return None
    cp, cn = cp.astype(np.float64), cn.astype(np.float64)
    return float((cp * (np.cumsum(cn) - cn + 0.5 * cn)).sum() / pairs)


def score_range(perf: PerformanceReference, profiles: dict) -> tuple[float, float]:
    """The reference's range of the scores AUC reads (``profiles``: name -> ColumnProfile); (0, 1) unknown."""
    names = list(perf.proba_columns) or ([perf.score] if perf.score else [])
    found = [(profiles[n].min, profiles[n].max) for n in names if n in profiles and profiles[n].min is not None
             and profiles[n].max is not None]
    if not found:
        return 0.0, 1.0
    return float(min(a for a, _ in found)), float(max(b for _, b in found))


def _value_counts(x: np.ndarray) -> dict | None:
    values, counts = np.unique(x, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True)) if values.size <= SCORE_VALUES else None


def _auc(pos: dict[Any, int], neg: dict[Any, int]) -> float | None:
    """AUC from the exact value counts of the positives' and negatives' scores."""
    values = sorted(set(pos) | set(neg))
    return _counted_auc(np.array([pos.get(v, 0) for v in values]), np.array([neg.get(v, 0) for v in values]))
