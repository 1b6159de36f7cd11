"""The dataset-level drift test: what per-feature tests cannot see, without paging twice for one incident."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import Status

LEVELS = np.array(["north", "south", "east", "west", "rare"])


def _table(rows: int, rng: np.random.Generator, contrast: float = 0.0, shift: float = 0.0) -> pa.Table:
    """Two strongly correlated measurements (rho 0.9), a skewed count, a category with a rare level, a flag."""
    common = rng.normal(size=rows)
    a = 0.9 * common + np.sqrt(1 - 0.81) * rng.normal(size=rows)
    return pa.table({
        "a": common + contrast + shift, "b": a - contrast, "visits": rng.poisson(1.5, rows).astype(float) * 1.0
        + rng.random(rows) * 0.01, "region": LEVELS[rng.choice(5, rows, p=[0.4, 0.3, 0.15, 0.13, 0.02])],
        "flag": rng.random(rows) < 0.2})


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    pacsv.write_csv(_table(20_000, np.random.default_rng(0)), root / "ref.csv")
    return build_baseline(root / "ref.csv", "d", Settings())


def _check(tmp_path: Path, baseline, table: pa.Table, settings: Settings | None = None):
    pacsv.write_csv(table, tmp_path / "b.csv")
    return analyse_file(tmp_path / "b.csv", baseline, settings or Settings())


def test_a_contrast_no_feature_shows_is_caught_as_a_dataset_shift(tmp_path, baseline):
    """a and b move 0.15 std in opposite directions: each alone is within noise at 300 rows (z about 2.6, under
    the Bonferroni threshold), together they leave the reference's correlation far behind."""
    rng = np.random.default_rng(1)
    caught = features = 0
    for _ in range(20):
        res = _check(tmp_path, baseline, _table(300, rng, contrast=0.15))
        features += res.drift.drifted_count > 0
        e = res.drift.dataset_test
        caught += e.fired
        if e.fired:
            assert res.status >= Status.WARNING
            alert = next(a for a in res.alerts if a.subject == "dataset")
            assert "mean moved" in alert.message and ("'a'" in alert.message or "'b'" in alert.message)
    assert caught >= 19 and features <= 2, (caught, features)


@pytest.mark.slow
def test_healthy_batches_rarely_fire_the_dataset_test(tmp_path, baseline):
    """Its share of alpha is 0.0025; small batches are calibrated on bootstrap batches of the reference."""
    rng = np.random.default_rng(2)
    for rows, reps in ((20, 600), (100, 600), (1_000, 600)):
        fired = sum(_check(tmp_path, baseline, _table(rows, rng)).drift.dataset_test.fired for _ in range(reps))
        assert fired / reps <= 0.01, f"{fired}/{reps} healthy {rows}-row batches fired the dataset test"


def test_one_feature_shift_pages_once(tmp_path, baseline):
    """A big shift of one feature moves the mean vector too: the feature's alert says it, the dataset test only
    reports (one incident, one page)."""
    res = _check(tmp_path, baseline, _table(2_000, np.random.default_rng(3), shift=1.0))
    assert res.drift.features["a"].drifted
    assert res.drift.dataset_test.explained and not res.drift.dataset_test.fired
    assert [a.subject for a in res.alerts if a.kind.value == "drift"] == ["a"]


def test_cauchy_and_none_are_the_other_choices(tmp_path, baseline):
    batch = _table(300, np.random.default_rng(4))
    for choice, expected in (("cauchy", "cauchy"), ("none", None)):
        settings = Settings()
        settings.drift.dataset_test = choice
        res = _check(tmp_path, baseline, batch, settings)
        got = res.drift.dataset_test
        assert (got.test if got is not None else None) == expected
        feature = next(iter(res.drift.features.values()))
        share = settings.drift.dataset_alpha_share if choice != "none" else 0.0
        assert feature.p_threshold == pytest.approx(settings.drift.alpha * (1 - share) / res.drift.tested_count)


def test_what_moved_most_is_in_reference_standard_deviations(tmp_path):
    """A feature measured in small units (std 0.001) shifted by 0.5 std is reported as +0.5 std, not divided
    by its scale a second time."""
    rng = np.random.default_rng(6)
    ref = _table(20_000, rng)
    small = pa.table({"tiny": pa.array(rng.normal(0, 0.001, 20_000)), **{n: ref[n] for n in ref.column_names}})
    pacsv.write_csv(small, tmp_path / "ref.csv")
    baseline = build_baseline(tmp_path / "ref.csv", "units", Settings())
    batch = _table(2_000, rng)
    batch = pa.table({"tiny": pa.array(rng.normal(0.0005, 0.001, 2_000)), **{n: batch[n] for n in batch.column_names}})
    top = _check(tmp_path, baseline, batch).drift.dataset_test.top
    assert top[0]["feature"] == "tiny" and 0.4 <= top[0]["shift_std"] <= 0.6, top
