"""False-alarm and power rates of the count-based validation checks when the reference is small.

A count is judged against a rate estimated from the reference; with a few hundred reference rows that estimate
is itself uncertain (the range of 300 values, a null rate of 10 in 200, categories seen once), and judging the
batch against the point estimate raised alarms on healthy batches. Each repetition draws a new reference and a
new batch from one population, builds a real baseline from a CSV and checks the batch as a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import Severity

pytestmark = pytest.mark.slow

REPS = 300
LEVELS = np.array([f"c{k:02d}" for k in range(60)])
ZIPF = 1 / np.arange(1, 61) ** 1.3
ZIPF /= ZIPF.sum()


def _population(rows: int, rng: np.random.Generator, null_rate: float = 0.05, new_level: float = 0.0) -> pa.Table:
    heavy = rng.standard_t(3, rows)  # heavy tails: the range of a small reference is far from the population's
    nulls = rng.random(rows) < null_rate
    cat = LEVELS[rng.choice(60, rows, p=ZIPF)]  # many rare categories: a small reference misses some
    if new_level:
        cat = np.where(rng.random(rows) < new_level, "brand_new", cat)
    return pa.table({"heavy": pa.array(heavy), "with_nulls": pa.array(rng.normal(size=rows), mask=nulls),
                     "category": pa.array(cat)})


def _alarms(tmp_path: Path, rng: np.random.Generator, ref_rows: int, batch_rows: int, **shift) -> set[str]:
    pacsv.write_csv(_population(ref_rows, rng), tmp_path / "ref.csv")
    baseline = build_baseline(tmp_path / "ref.csv", "small", Settings())
    pacsv.write_csv(_population(batch_rows, rng, **shift), tmp_path / "batch.csv")
    res = analyse_file(tmp_path / "batch.csv", baseline, Settings())
    return {f.check for f in res.findings if f.severity >= Severity.WARNING}


@pytest.mark.parametrize("ref_rows,batch_rows", [(300, 100), (200, 1_000)])
def test_small_reference_healthy_batches_rarely_raise_count_findings(tmp_path, ref_rows, batch_rows):
    rng = np.random.default_rng(ref_rows + batch_rows)
    seen: dict[str, int] = {}
    for _ in range(REPS):
        for check in _alarms(tmp_path, rng, ref_rows, batch_rows):
            seen[check] = seen.get(check, 0) + 1
    print(f"\nreference {ref_rows}, batch {batch_rows}: findings in {REPS} healthy batches: {seen}")
    for check in ("out_of_range", "null_rate", "unseen_categories"):
        assert seen.get(check, 0) / REPS <= 0.01, f"{check}: {seen.get(check, 0)}/{REPS} healthy batches"


def test_small_reference_still_sees_real_problems(tmp_path):
    """The same small references: a batch with 25% missing values, or with a new category in 20% of its rows, is
    flagged (this reference meets a new category in about 5% of its own rows, the ones it saw once)."""
    rng = np.random.default_rng(5)
    caught = {"null_rate": 0, "unseen_categories": 0}
    for _ in range(40):
        got = _alarms(tmp_path, rng, 300, 200, null_rate=0.25, new_level=0.2)
        for check in caught:
            caught[check] += check in got
    assert caught == {"null_rate": 40, "unseen_categories": 40}
