"""Performance-monitoring speed: metrics of a 100,000-row labelled batch, segments over a 100,000-row window."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.performance.assess import assess
from sentinel_tui.performance.reference import PerformanceReference
from sentinel_tui.performance.segments import find_segments

from .bench_check import best_of as best

Row = tuple[str, float, str, bool]


def run() -> list[Row]:
    rng = np.random.default_rng(0)
    n = 100_000
    truth = np.where(rng.random(n) < 0.2, "1", "0").astype(object)
    pred = np.where(rng.random(n) < 0.85, truth, np.where(truth == "1", "0", "1")).astype(object)
    score = np.clip(rng.normal(0.3, 0.2, n), 0, 1)
    perf = PerformanceReference("binary", "y", "yhat", labels=("0", "1"), positive="1",
                                metrics={"accuracy": 0.9, "f1": 0.7})
    metrics_s = best(lambda: assess(perf, truth, pred, score, Settings().performance))
    cols: dict[str, pa.Array] = {}
    for i in range(20):
        cols[f"num_{i}"] = pa.array(rng.normal(0, 1, 5000))
    for i in range(10):
        cols[f"cat_{i}"] = pa.array(rng.choice([f"v{k}" for k in range(8)], 5000))
    with tempfile.TemporaryDirectory() as tmp:
        pacsv.write_csv(pa.table(cols), Path(tmp) / "ref.csv")
        baseline = build_baseline(Path(tmp) / "ref.csv", "segments", Settings())
    window = {f"num_{i}": rng.normal(0, 1, n) for i in range(20)}
    window.update({f"cat_{i}": rng.choice([f"v{k}" for k in range(8)], n).astype(object) for i in range(10)})
    errors = (rng.random(n) < 0.15).astype(float)
    errors[window["cat_3"] == "v2"] = (rng.random(int((window["cat_3"] == "v2").sum())) < 0.5)
    found: list = []
    segments_s = best(lambda: found.append(find_segments(window, errors, baseline)), repeat=3)
    top = found[-1][0]["segment"] if found[-1] else "none"
    return [("performance metrics + intervals, 100,000 labelled rows", metrics_s, "target <= 0.050 s",
             metrics_s <= 0.05),
            ("segment discovery, 30 features, 100,000-row window", segments_s,
             f"target <= 0.500 s; top segment {top}", segments_s <= 0.5)]
