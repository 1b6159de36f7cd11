"""Watch-mode performance: predictions kept in the store until their labels arrive (in the batch itself or
later in a label file), a rolling window of labelled rows, and a change detector on the error stream."""

from __future__ import annotations

import fnmatch
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.config import Settings, batch_memory_limit
from sentinel_tui.engine.store_labels import labelled_rows
from sentinel_tui.io.coerce import Coerced, coerce
from sentinel_tui.io.csv_reader import BatchReadError, read_csv_batch
from sentinel_tui.model import PerformanceResult
from sentinel_tui.performance.assess import assess
from sentinel_tui.performance.metrics import page_hinkley
from sentinel_tui.performance.reference import class_labels
from sentinel_tui.performance.segments import find_segments, rows_to_columns

CHANGE_ROWS = 20_000  # labelled rows the change detector looks back over


def is_label_file(path: str, pattern: str) -> bool:
    return fnmatch.fnmatch(Path(path).name.lower(), pattern.lower())


def _floats_or_none(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    out = v.round(6).astype(object)
    out[~np.isfinite(v)] = None
    return out


def prediction_rows(baseline: Baseline, columns: dict[str, Coerced], batch_id: int, now: float,
                    anonymous: str = "~") -> list[tuple]:
    """(row_id, batch_id, row_index, prediction, score, label, created_at, labelled_at, features_json) for
    every row with a prediction that can be judged now or later: a row with an id waits for a late label; a
    row without one (or a baseline without an id column) counts only when it carries its label inline, under
    the id ``anonymous + row index`` (the caller makes it unique to the batch). Vectorised: a 10,000-row batch
    costs a few milliseconds here, in the analysis thread."""
    perf = baseline.performance
    id_col = baseline.roles.get("id")
    if perf is None or perf.prediction not in columns:
        return []
    n = len(columns[perf.prediction].values)
    if id_col and id_col in columns:
        id_values = columns[id_col].values
        ids = (np.asarray(id_values.to_pylist(), dtype=object) if isinstance(id_values, pa.Array)
               else _floats_or_none(id_values))
    else:
        ids = np.full(n, None, dtype=object)
    target = perf.target
    if perf.regression:
        preds = _floats_or_none(columns[perf.prediction].values)
        labels = _floats_or_none(columns[target].values) if target in columns else np.full(n, None, dtype=object)
    else:
        preds = class_labels(columns[perf.prediction])
        labels = class_labels(columns[target]) if target in columns else np.full(n, None, dtype=object)
    labelled = pd.notna(labels)
    has_id = pd.notna(ids)
    keep = np.flatnonzero(pd.notna(preds) & (has_id | labelled))
    if not len(keep):
        return []
    score_col = perf.score
    scores = (_floats_or_none(columns[score_col].values) if score_col and score_col in columns
              else np.full(n, None, dtype=object))
    frame = {}
    for f in baseline.features:
        if f.name in columns and f.type in ("numeric", "categorical", "boolean"):
            vals = columns[f.name].values
            frame[f.name] = vals.to_pandas() if isinstance(vals, pa.Array) else vals
    feats = (pd.DataFrame(frame).to_json(orient="records", lines=True, double_precision=6).splitlines()
             if frame else ["{}"] * n)
    return [(str(ids[i]) if has_id[i] else f"{anonymous}{i}", batch_id, int(i), str(preds[i]), scores[i],
             None if labels[i] is None else str(labels[i]), now, now if labelled[i] else None, feats[i])
            for i in keep]


@dataclass(frozen=True)
class LabelFile:
    rows: int
    labels: list[tuple[str, str]]  # (row_id, label)


def read_label_file(path: Path, baseline: Baseline, settings: Settings) -> LabelFile:
    """A label file: the id column and the target column (as named in the baseline), any other columns ignored."""
    perf = baseline.performance
    id_col = baseline.roles.get("id")
    if perf is None or not id_col:
        raise BatchReadError("labels need a baseline with --id, --target and --prediction")
    loaded = read_csv_batch(path, delimiter=settings.input.delimiter, max_bytes=int(settings.input.max_file_mb * 1e6),
                            string_columns=frozenset({id_col}), follow_symlinks=False,
                            max_memory=batch_memory_limit(settings))
    table = loaded.table
    missing = [c for c in (id_col, perf.target) if c not in table.column_names]
    if missing:
        raise BatchReadError(f"label file lacks column(s) {', '.join(missing)} (needs the id and the target)")
    target = coerce(table.column(perf.target), baseline.columns[perf.target].type)
    values = _floats_or_none(target.values) if perf.regression else class_labels(target)
    labels = [None if x is None else str(x) for x in values]  # exactly as inline labels are stored
    ids = pc.cast(table.column(id_col), pa.string()).to_pylist()
    pairs = [(i, lab) for i, lab in zip(ids, labels, strict=True) if i is not None and lab is not None]
    return LabelFile(rows=table.num_rows, labels=pairs)


def window_performance(db: sqlite3.Connection, baseline: Baseline, settings: Settings) -> PerformanceResult | None:
    """The rolling window (the last ``window_rows`` labelled rows) against the reference, the change point on
    the error stream, and the segments that broke when the window is degraded."""
    perf = baseline.performance
    if perf is None:
        return None
    s = settings.performance
    if s.window_batches > 0:
        recent = labelled_rows(db, CHANGE_ROWS)
        keep = set(sorted({r[0] for r in recent})[-s.window_batches:])
        window = [r for r in recent if r[0] in keep][::-1]
    else:
        window = labelled_rows(db, s.window_rows)[::-1]  # oldest first
    if not window:
        return None
    regression = perf.regression
    _, _, preds, scores, labels = zip(*window, strict=True)
    kind = np.float64 if regression else object
    t = np.array(labels, dtype=kind)
    p = np.array(preds, dtype=kind)
    sc = np.array(scores, dtype=np.float64) if perf.score and None not in scores else None
    result = assess(perf, t, p, sc, s, scope="window")
    change = None
    if result.status == "degraded":
        # Only now look further back (the change detector's stream) and at the rows' features.
        recent = labelled_rows(db, CHANGE_ROWS, features=True)[::-1]
        window_ids = {(r[0], r[1]) for r in window}
        if regression:
            errors = np.array([abs(float(r["prediction"]) - float(r["label"])) for r in recent])
            ref = perf.metrics.get("mae") or 1.0
            errors = errors / ref  # in units of the reference error, so one threshold fits every scale
        else:
            errors = np.array([r["prediction"] != r["label"] for r in recent], dtype=np.float64)
        cp = page_hinkley(errors)
        if cp.detected and cp.start_index is not None:
            first = recent[min(cp.start_index, len(recent) - 1)]
            change = {"batch_id": first["batch_id"], "row": first["row_index"], "alarm_batch_id":
                      recent[cp.alarm_index]["batch_id"], "detector": "page_hinkley", **cp.details}
        feats = [json.loads(r["features"] or "{}") for r in recent if (r[0], r[1]) in window_ids]
        errs = (np.abs(p - t) if regression else (t != p).astype(np.float64))
        columns = rows_to_columns(feats, [f.name for f in baseline.features])
        segments = find_segments(columns, errs, baseline, regression=regression)
        result = _with(result, change, segments)
    return result


def _with(result: PerformanceResult, change: dict | None, segments: list[dict]) -> PerformanceResult:
    from dataclasses import replace

    message = result.message
    if change is not None:
        message += f" since batch {change['batch_id']}"
    if segments:
        top = segments[0]
        message += f"; worst segment: {top['segment']} (n={top['rows']}, {top['metric']} {top['value']:.2f})"
    return replace(result, change_point=change, segments=segments, message=message)

