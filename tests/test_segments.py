"""Segment discovery on data where the broken slice is known."""

from __future__ import annotations

import numpy as np

from sentinel_tui.performance.segments import find_segments
from sentinel_tui.simulate.tabular import generate


def _window(n: int, seed: int):
    df = generate(n, np.random.default_rng(seed))
    return {c: df[c].tolist() for c in df.columns}, df


def test_a_broken_category_is_ranked_first(credit_baseline):
    cols, df = _window(4000, 1)
    rng = np.random.default_rng(2)
    errors = (rng.random(len(df)) < 0.1).astype(float)
    eu = (df["region"] == "EU").to_numpy()
    errors[eu] = rng.random(eu.sum()) < 0.4
    found = find_segments(cols, errors, credit_baseline)
    assert found[0]["segment"] == "region=EU"
    assert found[0]["rows"] == eu.sum() and found[0]["value"] < 0.7 and found[0]["lift"] > 1.5


def test_a_broken_pair_is_found_and_healthy_windows_give_nothing(credit_baseline):
    cols, df = _window(6000, 3)
    rng = np.random.default_rng(4)
    errors = (rng.random(len(df)) < 0.1).astype(float)
    both = ((df["region"] == "US") & (df["channel"] == "app")).to_numpy()
    errors[both] = rng.random(both.sum()) < 0.6
    found = find_segments(cols, errors, credit_baseline)
    assert found[0]["segment"] in ("region=US & channel=app",)
    healthy = (np.random.default_rng(5).random(len(df)) < 0.1).astype(float)
    assert find_segments(cols, healthy, credit_baseline) == []


def test_numeric_quintiles_and_regression_errors(credit_baseline):
    cols, df = _window(5000, 6)
    rng = np.random.default_rng(7)
    errors = np.abs(rng.normal(0, 1, len(df)))
    high = (df["income"] > df["income"].quantile(0.8)).to_numpy()
    errors[high] *= 3
    found = find_segments(cols, errors, credit_baseline, regression=True)
    assert found[0]["segment"].startswith("income in [") and found[0]["metric"] == "mae"
