"""The model's task, classes and reference performance: computed at ``baseline create`` and used to read
labels and predictions the same way in every batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import sentinel_tui.performance.metrics as mx
from sentinel_tui.baseline.profile import ColumnProfile, numeric_key
from sentinel_tui.config import Settings
from sentinel_tui.io.coerce import Coerced

CLASSIFICATION_MAX_CLASSES = 50


@dataclass(frozen=True)
class PerformanceReference:
    """The model's task, its columns and classes and its metrics on the reference data: baseline.json's
    "performance" (written by ``baseline create``; its shape is checked by ``baseline.integrity``)."""

    task: str  # binary | multiclass | regression
    target: str  # the label column
    prediction: str  # the model's output column
    score: str | None = None  # binary: the positive class's score column
    labels: tuple[str, ...] = ()  # classification: the classes (at most CLASSIFICATION_MAX_CLASSES)
    proba_columns: tuple[str, ...] = ()  # per-class probability columns, in the order of ``labels``
    positive: str | None = None  # binary: the positive class
    metrics: dict[str, Any] = field(default_factory=dict)  # on the reference rows
    rows: int = 0  # labelled reference rows

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PerformanceReference:
        return cls(task=d["task"], target=d["target"], prediction=d["prediction"], score=d.get("score"),
                   labels=tuple(d.get("labels") or ()), proba_columns=tuple(d.get("proba_columns") or ()),
                   positive=d.get("positive"), metrics=dict(d.get("metrics") or {}), rows=int(d.get("rows") or 0))

    def to_dict(self) -> dict[str, Any]:
        """baseline.json's form (keys a task does not have are left out, as they always were)."""
        out: dict[str, Any] = {"task": self.task, "target": self.target, "prediction": self.prediction,
                               "score": self.score}
        if not self.regression:
            out["labels"] = list(self.labels)
            if self.proba_columns:
                out["proba_columns"] = list(self.proba_columns)
            if self.task == "binary":
                out["positive"] = self.positive
        out["metrics"] = self.metrics
        out["rows"] = self.rows
        return out


def class_labels(c: Coerced) -> np.ndarray:
    """Class labels as strings (None where missing), the same way for the reference and every batch:
    whole numbers as integers ("1", not "1.0"), other numbers as repr, text as written. Vectorised."""
    if c.logical_type in ("categorical", "text"):
        return np.asarray(c.values.to_pylist(), dtype=object)
    v = np.asarray(c.values, dtype=np.float64)
    out = np.full(v.size, None, dtype=object)
    ok = np.isfinite(v)
    whole = ok & (v == np.round(v)) & (np.abs(v) < 2 ** 53)
    out[whole] = v[whole].astype(np.int64).astype(str).astype(object)
    rest = np.flatnonzero(ok & ~whole)
    if rest.size:
        out[rest] = [numeric_key(x) for x in v[rest]]
    return out


def infer_task(target: ColumnProfile, settings: Settings) -> str:
    if settings.columns.task:
        return settings.columns.task
    if target.type in ("categorical", "boolean") or (target.type == "numeric" and target.categories):
        return "binary" if max(target.distinct, len(target.categories)) <= 2 else "multiclass"
    return "regression"


def labelled(perf: PerformanceReference, columns: dict[str, Coerced]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(truth, prediction, score) of the rows that have both a label and a prediction."""
    target, prediction, score = perf.target, perf.prediction, perf.score
    if perf.regression:
        t = np.asarray(columns[target].values, dtype=np.float64)
        p = np.asarray(columns[prediction].values, dtype=np.float64)
        ok = np.isfinite(t) & np.isfinite(p)
    else:
        t, p = class_labels(columns[target]), class_labels(columns[prediction])
        ok = np.array([a is not None and b is not None for a, b in zip(t, p, strict=True)], dtype=bool)
    s = None
    proba = perf.proba_columns
    if proba and all(c in columns for c in proba):
        matrix = np.column_stack([np.asarray(columns[c].values, dtype=np.float64) for c in proba])
        ok &= np.isfinite(matrix).all(axis=1)
        s = matrix[ok]
    elif score and score in columns:
        s_all = np.asarray(columns[score].values, dtype=np.float64)
        ok &= np.isfinite(s_all)
        s = s_all[ok]
    return t[ok], p[ok], s


def compute_metrics(perf: PerformanceReference, t: np.ndarray, p: np.ndarray, s: np.ndarray | None
                    ) -> dict[str, Any]:
    if perf.regression:
        return mx.regression_metrics(t, p).to_dict()
    return mx.classification_metrics(t, p, labels=list(perf.labels), positive=perf.positive, score=s).to_dict()


def class_summary(t_all: np.ndarray, p_all: np.ndarray) -> dict[str, int]:
    """The first CLASSIFICATION_MAX_CLASSES labels (sorted) of truth and prediction, each with its count in the
    truth: all a reference needs to fix its classes. Partitions' summaries merge (``merge_class_summaries``):
    a label among the whole's first is among every partition's first of its own labels."""
    counts = Counter(t_all.tolist())
    labels = sorted((set(counts) | set(p_all.tolist())) - {None})[:CLASSIFICATION_MAX_CLASSES]
    return {lab: counts.get(lab, 0) for lab in labels}


def merge_class_summaries(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))[:CLASSIFICATION_MAX_CLASSES]}


def with_classes(task: str, target: str, prediction: str, score: str | None, classes: dict[str, int],
                 available: Iterable[str], proba_prefix: str | None = None) -> PerformanceReference:
    """The reference before its metrics: classes, positive class and probability columns (of ``available``)."""
    labels: list[str] = []
    proba: list[str] = []
    positive = None
    if task != "regression":
        labels = list(classes)
        if proba_prefix:
            wanted = [f"{proba_prefix}{lab}" for lab in labels]
            if set(wanted) <= set(available):
                proba = wanted
        if task == "binary":
            positive = next((c for c in ("1", "true", "yes") if c in labels),
                            min(labels, key=lambda lab: classes[lab]) if labels else None)
    return PerformanceReference(task, target, prediction, score, tuple(labels), tuple(proba), positive)


def reference_performance(task: str, target: str, prediction: str, score: str | None,
                          columns: dict[str, Coerced], proba_prefix: str | None = None) -> PerformanceReference:
    """What ``baseline create`` stores: the task, the columns, the classes and the reference metrics.
    ``proba_prefix``: per-class probability columns named prefix + class (e.g. ``p_cat``, ``p_dog``)."""
    classes = {} if task == "regression" else class_summary(class_labels(columns[target]),
                                                             class_labels(columns[prediction]))
    perf = with_classes(task, target, prediction, score, classes, columns, proba_prefix)
    t, p, s = labelled(perf, columns)
    return replace(perf, metrics=compute_metrics(perf, t, p, s), rows=int(len(t)))


def performance_of(meta: dict[str, Any]) -> PerformanceReference | None:
    """The typed reference from a baseline's metadata (None: the baseline has no performance columns)."""
    d = meta.get("performance")
    return PerformanceReference.from_dict(d) if d else None
