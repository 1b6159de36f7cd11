"""The real-data detection benchmark, reduced (`make bench` runs it whole: tests/benchmarks/bench_detection.py).

Five real datasets shipped inside scikit-learn's and statsmodels' wheels, each split into a reference half and a
stream half; healthy batches are real unseen rows of the same population. The false-alarm bound is the product's
promise (a status that is not OK on at most 1% of healthy batches, at every size); the detection rows guard the
capabilities that catch what per-feature tests with a Bonferroni correction missed.
"""

from __future__ import annotations

import numpy as np
import pytest

from sentinel_tui.config import Settings
from tests.benchmarks.bench_detection import run_grid
from tests.benchmarks.realdata import (
    RealDataset,
    applies,
    build,
    category_gain,
    check,
    class_prior,
    load_datasets,
    mean_shift,
    with_model,
)

pytestmark = pytest.mark.slow

SIZES = (20, 40, 100, 500, 1_000)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> list[RealDataset]:
    root = tmp_path_factory.mktemp("realdata")
    out = load_datasets()
    for ds in out:
        build(ds, root)
    return out


@pytest.fixture(scope="module")
def with_outputs(datasets, tmp_path_factory) -> list[RealDataset]:
    """The same datasets with a model's outputs (predicted class, probabilities) in the reference and every batch."""
    root = tmp_path_factory.mktemp("realdata_model")
    out = [with_model(ds) for ds in datasets if ds.name in ("fair", "randhie")]
    for ds in out:
        build(ds, root)
    return out


def test_healthy_real_batches_rarely_alarm_at_any_size(datasets, tmp_path):
    # With the model's outputs in the batches as well, `make bench` measures it (0.5% of 20,000 healthy batches;
    # 100 per cell here would cost a minute of model predictions); the per-category test's own calibration is
    # tests/test_category_shift.py.
    res = run_grid(datasets, tmp_path, healthy_reps=100, shift_reps=0, sizes=SIZES, seed=11)
    for n in SIZES:
        cells = {ds: t for (ds, k), t in res.healthy.items() if k == n}
        alarms, total = sum(t.status for t in cells.values()), sum(t.total for t in cells.values())
        print(f"\n{n} rows: status alarms in {alarms}/{total} healthy batches "
              + ", ".join(f"{ds} {t.status}/{t.total}" for ds, t in cells.items()))
        assert alarms / total <= 0.01, f"{alarms}/{total} healthy {n}-row batches raised a non-OK status"


@pytest.mark.parametrize("shift_name,shift,n,at_least", [
    ("one category +10 points", category_gain(0.1), 1_000, 0.9),  # blocked by a Jensen-Shannon cut-off before
    ("one feature +0.5 std", mean_shift(0.5), 100, 0.85),
])
def test_real_shifts_are_caught(datasets, tmp_path, shift_name, shift, n, at_least):
    rng = np.random.default_rng(3)
    caught = total = 0
    for ds in datasets:
        if n not in ds.sizes() or not applies(shift_name, ds, n):
            continue
        for _ in range(20):
            caught += check(ds, shift(ds, n, rng), tmp_path / "b.csv", Settings()).status_alarm
            total += 1
    print(f"\n{shift_name} at {n} rows: caught {caught}/{total}")
    assert total and caught / total >= at_least


def test_a_change_in_the_mix_of_classes_is_caught_through_the_model_outputs(datasets, with_outputs, tmp_path):
    """Black-box shift detection: the labels are not in the batch, but the model's predicted class and score are.
    The rarest class ('affair' in fair, 'no doctor visit' in randhie) loses 90% of its rows, in 1,000-row batches;
    each batch is checked as features alone and with the model's outputs."""
    rng = np.random.default_rng(4)
    shift = class_prior(0.9)
    plain = {ds.name: ds for ds in datasets}
    features = outputs = total = 0
    for ds in with_outputs:
        for _ in range(20):
            batch = shift(ds, 1_000, rng)
            features += check(plain[ds.name], batch, tmp_path / "b.csv", Settings()).status_alarm
            outputs += check(ds, batch, tmp_path / "b.csv", Settings()).status_alarm
            total += 1
    print(f"\n90% of one class removed, 1,000 rows: features alone {features}/{total}, with outputs {outputs}/{total}")
    assert total == 40
    assert outputs / total >= 0.8 and outputs - features >= 0.15 * total
