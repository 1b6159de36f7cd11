"""Speed of `sentinel check` on big batches, against pyarrow's own parse time."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.allocator import tune_allocator
from sentinel_tui.engine.pipeline import analyse_file

tune_allocator()  # as `sentinel check` and `sentinel watch` do


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _table(rows: int, numeric: int, categorical: int, rng: np.random.Generator, shift: float = 0.0) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for i in range(numeric):
        cols[f"num_{i:04d}"] = pa.array(rng.normal(i % 5 + shift, 1 + i % 3, rows).round(6))
    levels = np.array([f"level_{k}" for k in range(12)])
    for i in range(categorical):
        cols[f"cat_{i}"] = pa.array(levels[rng.integers(0, 12, rows)])
    return pa.table(cols)


def bench_long(root: Path) -> list[tuple[str, float, str, bool]]:
    rng = np.random.default_rng(0)
    pacsv.write_csv(_table(200_000, 20, 5, rng), root / "ref.csv")
    batch = root / "batch_100k.csv"
    pacsv.write_csv(_table(100_000, 20, 5, rng, shift=0.05), batch)
    baseline = build_baseline(root / "ref.csv", "long", Settings())
    assert baseline.sample.num_rows == 50_000
    settings = Settings()
    analyse_file(batch, baseline, settings)  # warm the sorted reference cache, as a running monitor has it
    parse = best_of(lambda: pacsv.read_csv(batch))
    check = best_of(lambda: analyse_file(batch, baseline, settings))
    ratio = check / parse
    return [("parse 100k x 25 CSV (pyarrow alone)", parse, "", True),
            ("check 100k x 25 (parse+validate+drift)", check, f"{ratio:.2f}x parse (target <= 3x)", ratio <= 3)]


def bench_wide(root: Path) -> list[tuple[str, float, str, bool]]:
    rng = np.random.default_rng(1)
    pacsv.write_csv(_table(20_000, 1000, 0, rng), root / "wide_ref.csv")
    batch = root / "wide_batch.csv"
    pacsv.write_csv(_table(10_000, 1000, 0, rng), batch)
    baseline = build_baseline(root / "wide_ref.csv", "wide", Settings())
    settings = Settings()
    cold = best_of(lambda: analyse_file(batch, build_baseline(root / "wide_ref.csv", "wide", settings),
                                        settings), repeat=1)
    analyse_file(batch, baseline, settings)
    warm = best_of(lambda: analyse_file(batch, baseline, settings), repeat=3)
    return [("check 10k x 1000 numeric (warm baseline)", warm, "target <= 2 s", warm <= 2.0),
            ("  same, incl. building the baseline", cold, f"sample {baseline.sample.num_rows} rows", True)]


def bench_help() -> list[tuple[str, float, str, bool]]:
    t = best_of(lambda: subprocess.run([sys.executable, "-m", "sentinel_tui", "--help"], capture_output=True,
                                       check=True))
    return [("sentinel --help (process start to exit)", t, "target < 0.3 s", t < 0.3)]


def run() -> list[tuple[str, float, str, bool]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        return [*bench_long(root), *bench_wide(root), *bench_help()]
