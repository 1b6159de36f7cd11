"""A shift concentrated in one category (a class vanishing from a model's predictions, one segment surging) is
caught; spread over the chi-square's k-1 degrees of freedom it was diluted. Healthy batches stay quiet.

Before the per-category test, a 10-class prediction column that lost one class (10% of rows) entirely was flagged
in about a third of 100-row batches; every one of them is a real change of the model's output mix.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import Status
from sentinel_tui.stats import univariate as uv

ALPHA = 0.005  # the per-feature budget of a single-feature batch: what a p-value is compared with


def _combined(ref: np.ndarray, cur: np.ndarray) -> float:
    """The categorical test's p-value, as the drift test computes it."""
    return uv.category_test(ref, cur).p_value


@pytest.mark.parametrize("shares,n", [
    ([0.5, 0.3, 0.2], 20), ([0.5, 0.3, 0.2], 1_000),
    ([0.1] * 10, 40), ([0.1] * 10, 500),
    # 40 levels, a few of them rare: rare cells are where a normal approximation per category would lie
    (list(np.r_[np.full(30, 0.03), np.full(6, 0.015), np.full(4, 0.0025)] / 1.0), 100),
])
def test_healthy_counts_keep_the_false_alarm_rate(shares, n):
    rng = np.random.default_rng(n + len(shares))
    p = np.asarray(shares) / np.sum(shares)
    ref = rng.multinomial(2_000, p).astype(float)
    reps = 4_000
    alarms = sum(_combined(ref, rng.multinomial(n, p).astype(float)) < ALPHA for _ in range(reps))
    # ALPHA is 0.5%: 4,000 batches leave room for chance (binomial sd 0.11%), not for a doubled rate
    assert alarms / reps <= 0.0075, f"{alarms}/{reps} healthy batches below {ALPHA}"


def test_one_class_of_ten_vanishing_is_caught_where_the_chi_square_alone_missed():
    rng = np.random.default_rng(5)
    p = np.full(10, 0.1)
    ref = rng.multinomial(1_000, p).astype(float)
    shifted = np.r_[np.full(9, 1 / 9), 0.0]
    reps = 400
    chi2_alone = combined = 0
    for _ in range(reps):
        cur = rng.multinomial(100, shifted).astype(float)
        chi2_alone += uv.chi2_homogeneity(ref, cur).p_value < ALPHA
        combined += _combined(ref, cur) < ALPHA
    assert chi2_alone / reps < 0.6  # what the chi-square alone catches (measured 35%)
    assert combined / reps >= 0.95


def test_two_categories_are_one_test_not_two():
    ref, cur = np.array([700.0, 300.0]), np.array([55.0, 45.0])
    assert uv.largest_category_p_value(ref, cur) is None
    assert _combined(ref, cur) == uv.chi2_homogeneity(ref, cur).p_value


def test_a_vanished_predicted_class_is_prediction_drift_beside_ten_probability_columns(tmp_path):
    """The predicted class keeps half of the outputs' alpha: shared equally with ten probability columns, its
    1/11 share missed a class gone from 100-row batches."""
    rng = np.random.default_rng(2)

    def outputs(rows: int, classes: int) -> dict[str, np.ndarray]:
        pred = rng.integers(0, classes, rows)
        proba = rng.dirichlet(np.ones(10), rows) * 0.5
        proba[np.arange(rows), pred] += 0.5
        return {"x": rng.normal(size=rows), "pred": pred, **{f"proba_{k}": proba[:, k] for k in range(10)}}

    pacsv.write_csv(pa.table(outputs(2_000, 10)), tmp_path / "ref.csv")
    settings = Settings()
    settings.columns.prediction = "pred"
    settings.columns.proba_prefix = "proba_"
    baseline = build_baseline(tmp_path / "ref.csv", "digits", settings)
    caught = 0
    for i in range(20):
        pacsv.write_csv(pa.table(outputs(100, 9)), tmp_path / f"b{i}.csv")  # class 9 no longer predicted
        res = analyse_file(tmp_path / f"b{i}.csv", baseline, Settings())
        f = res.prediction_drift.features["pred"]
        assert f.details["largest_category_p_value"] * 2 >= f.p_value
        assert f.p_threshold == pytest.approx(0.005 / 2)
        caught += f.drifted and res.status != Status.OK
    assert caught >= 19


def test_a_healthy_feature_at_p_one_does_not_cancel_the_cauchy_combination():
    """About half of healthy categorical features report p = 1 (the doubled p-value capped at 1); at p = 1 the
    Cauchy transform is -1.6e16 and turned strong evidence from four shifted features into p = 1."""
    from sentinel_tui.stats.meanshift import cauchy_combination

    shifted = [3e-5, 1.9e-4, 5.1e-4, 0.0265]
    with_healthy = cauchy_combination(np.array([*shifted, 0.544]))
    assert cauchy_combination(np.array([*shifted, 1.0])) < 2 * with_healthy < 1e-3
    rng = np.random.default_rng(0)  # and under no shift it stays calibrated with ties at 1
    draws = rng.uniform(size=(20_000, 5))
    draws[:, 4] = np.where(rng.uniform(size=20_000) < 0.5, 1.0, draws[:, 4])
    alarms = sum(cauchy_combination(row) < 0.005 for row in draws)
    assert alarms / 20_000 <= 0.0065


def test_a_reserved_share_of_alpha_holds_whatever_else_was_tested():
    from sentinel_tui.checks.drift import _shares

    assert _shares(["pred", "p0", "p1", "p2"], {"pred": 0.5}) == {"pred": 0.5, "p0": 0.5 / 3, "p1": 0.5 / 3,
                                                                   "p2": 0.5 / 3}
    assert _shares(["pred"], {"pred": 0.5}) == {"pred": 1.0}  # nothing else tested: all of it
    assert _shares(["p0", "p1"], {"pred": 0.5}) == {"p0": 0.5, "p1": 0.5}  # the prediction is not in the batch
    assert _shares(["a", "b"], {}) == {"a": 0.5, "b": 0.5}


def test_the_alert_names_the_category_that_moved(tmp_path):
    rng = np.random.default_rng(1)
    segments = ["north", "south", "east", "west"]
    pacsv.write_csv(pa.table({"x": rng.normal(size=2_000), "segment": rng.choice(segments, 2_000)}),
                    tmp_path / "ref.csv")
    baseline = build_baseline(tmp_path / "ref.csv", "segments", Settings())
    batch = {"x": rng.normal(size=300), "segment": rng.choice(segments, 300, p=[0.55, 0.15, 0.15, 0.15])}
    pacsv.write_csv(pa.table(batch), tmp_path / "b.csv")
    res = analyse_file(tmp_path / "b.csv", baseline, Settings())
    message = next(a.message for a in res.alerts if a.subject == "segment")
    assert "most moved 'north' 2" in message and "% -> 5" in message, message
