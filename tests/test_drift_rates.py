"""False-alarm and power rates of the default settings, on seeded simulations.

Healthy batches are fresh draws from the distribution the 50,000-row reference was drawn from; 30
features of 7 numeric shapes (incl. heavy tails, counts and a 5-value integer), 6 categorical (incl. rare
and 40-level ones) and 3 boolean (incl. a 2% one). A batch "reports drift" when any feature drifted.
"""

from __future__ import annotations

import numpy as np
import pytest

from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_table
from sentinel_tui.model import Severity

from .synth import synth_table

pytestmark = pytest.mark.slow

# (batch rows, repetitions): enough repetitions that "at most 1%" is a statement, fewer where a batch is big.
SIZES = [(100, 600), (1_000, 600), (10_000, 200), (100_000, 40)]


@pytest.mark.parametrize("rows,reps", SIZES)
def test_healthy_batches_rarely_report_drift(synth_baseline, rows, reps):
    rng = np.random.default_rng(rows)
    settings = Settings()
    drift_alarms = quality_alarms = 0
    for _ in range(reps):
        res = analyse_table(synth_table(rows, rng), synth_baseline, settings)
        assert res.drift is not None and res.drift.tested_count == 30
        drift_alarms += res.drift.drifted_count > 0
        quality_alarms += any(f.severity >= Severity.WARNING for f in res.findings)
    print(f"\n{rows} rows: drift in {drift_alarms}/{reps} healthy batches, validation alarms in {quality_alarms}")
    assert drift_alarms / reps <= 0.01, f"{drift_alarms}/{reps} healthy {rows}-row batches reported drift"
    assert quality_alarms / reps <= 0.01, f"{quality_alarms}/{reps} healthy batches had validation alarms"


@pytest.mark.parametrize("rows,shift,reps", [(1_000, 0.5, 200), (10_000, 0.2, 100)])
def test_mean_shift_in_one_of_30_features_is_flagged(synth_baseline, rows, shift, reps):
    rng = np.random.default_rng(rows + 1)
    settings = Settings()
    # Rotate the shifted feature over every continuous shape (normal, lognormal, uniform, exponential,
    # Poisson counts, Student t).
    targets = [f"n{i:02d}" for i in range(21) if i % 7 != 6]
    hits = other_drift = 0
    for r in range(reps):
        name = targets[r % len(targets)]
        res = analyse_table(synth_table(rows, rng, shift={name: shift}), synth_baseline, settings)
        hits += res.drift.features[name].drifted
        other_drift += sum(f.drifted for f in res.drift.features.values() if f.feature != name)
    print(f"\n{shift} std shift, {rows} rows: flagged in {hits}/{reps}, other features drifted {other_drift} times")
    assert hits / reps >= 0.95, f"{shift} std shift flagged in {hits}/{reps} {rows}-row batches"
    assert other_drift <= 0.01 * reps  # the other 29 features stay quiet


def test_small_effects_are_not_alarms_at_large_batches(synth_baseline):
    """At 100,000 rows a 0.03 std shift is highly significant but immaterial: no drift is reported."""
    rng = np.random.default_rng(5)
    res = analyse_table(synth_table(100_000, rng, shift={"n00": 0.03}), synth_baseline, Settings())
    f = res.drift.features["n00"]
    assert f.p_value < f.p_threshold
    assert f.effect_size < f.effect_threshold
    assert not f.drifted


def test_categorical_and_boolean_shifts_are_flagged(synth_baseline):
    rng = np.random.default_rng(9)
    table = synth_table(2_000, rng)
    import pyarrow as pa

    skewed = np.where(rng.random(2_000) < 0.5, "x", "y")  # 80/15/5 becomes 50/50/0
    table = table.set_column(table.schema.get_field_index("c_skewed"), "c_skewed", pa.array(skewed))
    table = table.set_column(table.schema.get_field_index("b_half"), "b_half",
                             pa.array(rng.random(2_000) < 0.75))
    res = analyse_table(table, synth_baseline, Settings())
    assert res.drift.features["c_skewed"].drifted
    assert res.drift.features["c_skewed"].severity == Severity.CRITICAL
    assert res.drift.features["b_half"].drifted
    assert res.drift.features["b_half"].test == "two_proportion_z"
