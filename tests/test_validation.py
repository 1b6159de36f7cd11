"""Validation findings: each problem named, with its column, its numbers and a severity."""

from __future__ import annotations

import numpy as np
import pytest

from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import AlertKind, Severity, Status

from .conftest import credit_settings
from .helpers import credit_batch, write


def _run(tmp_path, df, baseline, name="batch.csv", settings: Settings | None = None):
    return analyse_file(write(df, tmp_path / name), baseline, settings or credit_settings())


def _by_check(result, check):
    return [f for f in result.findings if f.check == check]


def test_healthy_batch_is_clean(tmp_path, credit_baseline):
    res = _run(tmp_path, credit_batch(), credit_baseline)
    assert res.status == Status.OK
    assert [f for f in res.findings if f.severity >= Severity.WARNING] == []
    assert res.drift is not None and res.drift.tested_count == 9  # the 9 input features (score is the prediction score)


def test_missing_and_unexpected_columns(tmp_path, credit_baseline):
    df = credit_batch().drop(columns=["income", "default"]).assign(extra=1)
    res = _run(tmp_path, df, credit_baseline)
    missing = {f.column: f for f in _by_check(res, "missing_column")}
    assert missing["income"].severity == Severity.CRITICAL and missing["income"].kind == AlertKind.SCHEMA
    # labels arriving later is normal: reported, but not an alarm
    assert missing["default"].severity == Severity.INFO
    (unexpected,) = _by_check(res, "unexpected_column")
    assert unexpected.column == "extra" and unexpected.severity == Severity.WARNING
    assert res.status == Status.CRITICAL
    assert "income" not in res.drift.features and "age" in res.drift.features


def test_type_mismatch_reports_share_and_examples(tmp_path, credit_baseline):
    df = credit_batch()
    df["age"] = df["age"].astype(object)
    df.loc[df.index[:30], "age"] = "forty"
    res = _run(tmp_path, df, credit_baseline)
    (f,) = _by_check(res, "type_mismatch")
    assert f.column == "age" and f.values["unparseable"] == 30
    assert f.values["share"] == pytest.approx(0.03)
    assert f.severity == Severity.WARNING and "'forty'" in f.message
    df.loc[df.index[:100], "age"] = "?"
    (f,) = _by_check(_run(tmp_path, df, credit_baseline, "b2.csv"), "type_mismatch")
    assert f.severity == Severity.CRITICAL


def test_null_rate_increase(tmp_path, credit_baseline):
    df = credit_batch()
    df.loc[df.index[:300], "credit_score"] = np.nan
    (f,) = _by_check(_run(tmp_path, df, credit_baseline), "null_rate")
    assert f.column == "credit_score" and f.values["null_rate"] == pytest.approx(0.3)
    assert f.severity == Severity.CRITICAL and f.kind == AlertKind.DATA_QUALITY
    df = credit_batch()
    df.loc[df.index[:3], "credit_score"] = np.nan  # 0.3%: below the 2% materiality threshold
    assert _by_check(_run(tmp_path, df, credit_baseline, "b2.csv"), "null_rate") == []


def test_out_of_range_and_infinity(tmp_path, credit_baseline):
    df = credit_batch()
    df.loc[df.index[:50], "debt_ratio"] = 5.0
    df.loc[df.index[50:52], "income"] = np.inf
    res = _run(tmp_path, df, credit_baseline)
    (oor,) = _by_check(res, "out_of_range")
    assert oor.column == "debt_ratio" and oor.values["share"] == pytest.approx(0.05)
    assert oor.severity == Severity.WARNING
    (inf,) = _by_check(res, "infinity")
    assert inf.column == "income" and inf.values["count"] == 2


def test_unseen_categories(tmp_path, credit_baseline):
    df = credit_batch()
    df.loc[df.index[:150], "region"] = "MARS"
    df.loc[df.index[150:152], "channel"] = "carrier pigeon"
    res = _run(tmp_path, df, credit_baseline)
    by_col = {f.column: f for f in _by_check(res, "unseen_categories")}
    assert by_col["region"].severity == Severity.CRITICAL and by_col["region"].values["categories"] == ["MARS"]
    assert by_col["channel"].severity == Severity.INFO  # 0.2% of rows: reported, not an alarm
    assert res.drift.features["region"].details["unseen_share"] == pytest.approx(0.15)


def test_constant_column(tmp_path, credit_baseline):
    df = credit_batch()
    df["channel"] = "web"
    (f,) = _by_check(_run(tmp_path, df, credit_baseline), "constant")
    assert f.column == "channel" and f.severity == Severity.WARNING
    small = credit_batch(rows=3)
    small["has_mortgage"] = False  # 3 equal values of a 65/35 boolean happen by chance: no finding
    assert _by_check(_run(tmp_path, small, credit_baseline, "small.csv"), "constant") == []


def test_empty_batch_and_duplicate_columns(tmp_path, credit_baseline):
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(credit_batch(5).columns) + "\n")
    res = analyse_file(header_only, credit_baseline, credit_settings())
    assert [f.check for f in res.findings if f.severity == Severity.CRITICAL] == ["empty_batch"]
    assert res.status == Status.CRITICAL and res.drift is None

    df = credit_batch(200)
    text = df.to_csv(index=False).splitlines()
    text[0] = text[0].replace("channel", "age")
    dup = tmp_path / "dup.csv"
    dup.write_text("\n".join(text) + "\n")
    res = analyse_file(dup, credit_baseline, credit_settings())
    (f,) = _by_check(res, "duplicate_column")
    assert f.column == "age" and f.values["times"] == 2 and f.severity == Severity.CRITICAL
    assert res.drift.features["age"].rows == 200  # the first 'age' is still analysed


def test_ids_and_timestamps_are_not_drift_tested_or_flagged(tmp_path, credit_baseline):
    res = _run(tmp_path, credit_batch(), credit_baseline)
    assert "id" not in res.drift.features and "ts" not in res.drift.features
    assert not [f for f in res.findings if f.column in ("id", "ts")]
