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
from tests.benchmarks.realdata import RealDataset, applies, build, category_gain, check, load_datasets, mean_shift

pytestmark = pytest.mark.slow

SIZES = (20, 40, 100, 500, 1_000)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> list[RealDataset]:
    root = tmp_path_factory.mktemp("realdata")
    out = load_datasets()
    for ds in out:
        build(ds, root)
    return out


def test_healthy_real_batches_rarely_alarm_at_any_size(datasets, tmp_path):
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

