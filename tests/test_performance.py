"""Performance against the reference and prediction drift, per batch (`check`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import AlertKind, Severity
from sentinel_tui.performance.reference import performance_of
from sentinel_tui.report.json_report import report_schema
from sentinel_tui.simulate.tabular import Shift, generate

from .conftest import credit_settings


def batch(tmp: Path, name: str, rows: int, seed: int, shift: Shift | None = None) -> Path:
    path = tmp / name
    generate(rows, np.random.default_rng(seed), shift or Shift()).to_csv(path, index=False)
    return path


def test_reference_performance_is_stored(credit_baseline):
    perf = credit_baseline.meta["performance"]
    assert perf["task"] == "binary" and perf["positive"] == "1" and perf["labels"] == ["0", "1"]
    assert perf["score"] == "score" and perf["rows"] == 20_000
    m = perf["metrics"]
    assert 0.7 < m["accuracy"] < 0.95 and 0.6 < m["roc_auc"] < 0.9
    assert sum(map(sum, m["confusion"])) == 20_000
    typed = performance_of(credit_baseline.meta)  # the typed reference reads and writes the same JSON
    assert typed.positive == "1" and typed.labels == ("0", "1") and typed.to_dict() == perf


@pytest.mark.slow
def test_no_performance_alarm_on_200_healthy_batches(tmp_path, credit_baseline):
    alarms = 0
    for i in range(200):
        res = analyse_file(batch(tmp_path, "b.csv", 1000, 1000 + i), credit_baseline, credit_settings())
        assert res.performance is not None and res.performance.status in ("ok",)
        alarms += any(a.kind in (AlertKind.PERFORMANCE, AlertKind.PREDICTION_DRIFT) for a in res.alerts)
    assert alarms == 0


def test_concept_drift_degrades_accuracy_but_not_the_predictions(tmp_path, credit_baseline):
    res = analyse_file(batch(tmp_path, "c.csv", 1500, 5, Shift(concept=1.0)), credit_baseline, credit_settings())
    perf = res.performance
    assert perf.status == "degraded" and perf.degraded["accuracy"] and perf.severity == Severity.CRITICAL
    ref = credit_baseline.meta["performance"]["metrics"]["accuracy"]
    assert perf.intervals["accuracy"][1] < ref - 0.05
    assert "accuracy" in perf.message and "->" in perf.message
    assert [(a.kind, a.subject) for a in res.alerts if a.kind == AlertKind.PERFORMANCE] == \
        [(AlertKind.PERFORMANCE, "accuracy")]
    assert not res.prediction_drift.drifted_count  # the model's outputs did not move


def test_prediction_drift_without_labels(tmp_path, credit_baseline):
    path = tmp_path / "nolabels.csv"
    generate(1500, np.random.default_rng(6), Shift(covariate=1.0)).drop(columns=["default"]).to_csv(path, index=False)
    res = analyse_file(path, credit_baseline, credit_settings())
    assert res.performance is None  # no labels: no verdict on quality ...
    pred = res.prediction_drift  # ... but the outputs moved
    assert pred.features["score"].drifted
    assert any(a.kind == AlertKind.PREDICTION_DRIFT and a.subject == "score" for a in res.alerts)
    assert "score" not in res.drift.features  # reported apart from input drift


def test_small_batches_get_no_verdict(tmp_path, credit_baseline):
    res = analyse_file(batch(tmp_path, "s.csv", 60, 7, Shift(concept=1.0)), credit_baseline, credit_settings())
    assert res.performance.status == "insufficient_labels" and res.performance.labelled_rows == 60
    assert not [a for a in res.alerts if a.kind == AlertKind.PERFORMANCE]


def test_regression_task(tmp_path):
    rng = np.random.default_rng(0)

    def frame(n: int, bias: float) -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        y = 3 * x + rng.normal(0, 1, n)
        return pd.DataFrame({"x": x, "y": y, "yhat": 3 * x + bias})

    frame(5000, 0.0).to_csv(tmp_path / "ref.csv", index=False)
    s = Settings()
    s.columns.target, s.columns.prediction = "y", "yhat"
    baseline = build_baseline(tmp_path / "ref.csv", "reg", s)
    perf = baseline.meta["performance"]
    assert perf["task"] == "regression" and perf["metrics"]["mae"] == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)
    assert performance_of(baseline.meta).to_dict() == perf
    frame(800, 0.0).to_csv(tmp_path / "ok.csv", index=False)
    frame(800, 1.0).to_csv(tmp_path / "bad.csv", index=False)
    assert analyse_file(tmp_path / "ok.csv", baseline, s).performance.status == "ok"
    bad = analyse_file(tmp_path / "bad.csv", baseline, s).performance
    assert bad.status == "degraded" and bad.degraded["mae"] and bad.metrics["r2"] < perf["metrics"]["r2"]


def test_json_report_has_performance_sections(tmp_path, credit_dir):
    path = batch(tmp_path, "c.csv", 1200, 9, Shift(concept=1.0))
    proc = subprocess.run([sys.executable, "-m", "sentinel_tui", "check", str(path), "--baseline", "credit",
                           "--baselines-dir", str(credit_dir / "baselines"), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    import jsonschema

    jsonschema.validate(report, report_schema())
    b = report["batches"][0]
    assert b["performance"]["status"] == "degraded" and b["performance"]["metrics"]["confusion"]
    assert b["prediction_drift"]["features"]["pred"]["test"] in ("chi2", "two_proportion_z", "fisher_exact")
    text = subprocess.run([sys.executable, "-m", "sentinel_tui", "check", str(path), "--baseline", "credit",
                           "--baselines-dir", str(credit_dir / "baselines")], capture_output=True, text=True)
    assert "PERFORMANCE DEGRADED" in text.stdout and text.returncode == 2


def test_multiclass_with_probability_columns(tmp_path):
    rng = np.random.default_rng(1)

    def frame(n: int, noise: float) -> pd.DataFrame:
        x = rng.normal(0, 1, (n, 3))
        logits = x * 2 + rng.normal(0, noise, (n, 3))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        classes = np.array(["cat", "dog", "eel"])
        truth = classes[np.argmax(x + rng.normal(0, 0.5, (n, 3)), axis=1)]
        return pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2], "label": truth,
                             "pred": classes[proba.argmax(axis=1)], "p_cat": proba[:, 0], "p_dog": proba[:, 1],
                             "p_eel": proba[:, 2]})

    frame(6000, 0.1).to_csv(tmp_path / "ref.csv", index=False)
    s = Settings()
    s.columns.target, s.columns.prediction, s.columns.proba_prefix = "label", "pred", "p_"
    baseline = build_baseline(tmp_path / "ref.csv", "mc", s)
    perf = baseline.meta["performance"]
    assert perf["task"] == "multiclass" and perf["proba_columns"] == ["p_cat", "p_dog", "p_eel"]
    assert performance_of(baseline.meta).to_dict() == perf
    assert perf["metrics"]["roc_auc"] > 0.8 and perf["metrics"]["log_loss"] > 0
    assert [c.name for c in baseline.features] == ["f0", "f1", "f2"]  # probabilities are outputs, not inputs
    frame(1000, 3.0).to_csv(tmp_path / "noisy.csv", index=False)  # a worse model
    res = analyse_file(tmp_path / "noisy.csv", baseline, s)
    assert res.performance.status == "degraded" and res.performance.metrics["roc_auc"] is not None
    assert set(res.prediction_drift.features) == {"pred", "p_cat", "p_dog", "p_eel"}
