"""Speed of `sentinel check`: on big batches against pyarrow's own parse time, and as a whole process (what cron
and CI pay for each batch) on small ones."""

from __future__ import annotations

import os
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
from sentinel_tui.baseline.snapshot import save_baseline
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
    # Interleaved, so both see the same load from whatever else runs on the machine.
    parse, check = float("inf"), float("inf")
    for _ in range(9):
        parse = min(parse, best_of(lambda: pacsv.read_csv(batch), repeat=1))
        check = min(check, best_of(lambda: analyse_file(batch, baseline, settings), repeat=1))
    ratio = check / parse
    return [("parse 100k x 25 CSV (pyarrow alone)", parse, "", True),
            ("check 100k x 25 (parse+validate+drift)", check, f"{ratio:.2f}x parse (target <= 2x)", ratio <= 2)]


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


def _process_env(cache: Path | None) -> dict[str, str]:
    """The environment of a `sentinel` process: with ``cache``, Python's bytecode cache kept there (as an installed
    package has it; never written into the source tree), else none at all (every module compiled each run)."""
    env = dict(os.environ)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _check_process(batch: Path, baselines: Path, env: dict[str, str]) -> None:
    run = subprocess.run([sys.executable, "-m", "sentinel_tui", "check", str(batch), "--baseline", "r",
                          "--baselines-dir", str(baselines)], capture_output=True, env=env)
    if run.returncode not in (0, 1, 2):
        raise RuntimeError(f"sentinel check failed ({run.returncode}): {run.stderr.decode()[-500:]}")


# Two minima of 15 interleaved whole-process runs of the *same* batch differed by 0.0-1.8% on the 2-core bench
# machine (three trials); "no slower" is judged with that margin, not to the millisecond.
_SAME_WITHIN = 0.02


def bench_process(root: Path) -> list[tuple[str, float, str, bool]]:
    """`sentinel check` of one small batch, process start to exit: a 50,000-row x 25-column reference (20 numeric,
    5 categorical of 12 levels), batches of 1,000 and 10 rows from the same distribution."""
    rng = np.random.default_rng(2)
    pacsv.write_csv(_table(50_000, 20, 5, rng), root / "proc_ref.csv")
    batches = {rows: root / f"proc_{rows}.csv" for rows in (1_000, 10)}
    for rows, path in batches.items():
        pacsv.write_csv(_table(rows, 20, 5, rng), path)
    baselines = root / "baselines"
    save_baseline(build_baseline(root / "proc_ref.csv", "r", Settings()), baselines / "r")
    cached = _process_env(root / "pycache")
    _check_process(batches[10], baselines, cached)  # compiles the bytecode once, as installing does
    # Interleaved, so both sizes see the same load from whatever else runs on the machine; 15 rounds, as the
    # two differ by less than a run's noise (the 10-row check does about 5 ms less work).
    times: dict[int, list[float]] = {1_000: [], 10: []}
    for _ in range(15):
        for rows, path in batches.items():
            times[rows].append(best_of(lambda path=path: _check_process(path, baselines, cached), repeat=1))
    t1000, t10 = min(times[1_000]), min(times[10])
    cold = best_of(lambda: _check_process(batches[1_000], baselines, _process_env(None)), repeat=5)
    return [("sentinel check, 1,000 rows x 25 (whole process)", t1000, "target <= 0.4 s", t1000 <= 0.4),
            ("sentinel check, 10 rows x 25 (whole process)", t10,
             f"target <= the 1,000-row figure ({t1000:.3f}) within noise (+{_SAME_WITHIN:.0%})",
             t10 <= t1000 * (1 + _SAME_WITHIN)),
            ("  same 1,000 rows, no bytecode cache", cold, "PYTHONDONTWRITEBYTECODE=1: every module compiled",
             True)]


def bench_help() -> list[tuple[str, float, str, bool]]:
    t = best_of(lambda: subprocess.run([sys.executable, "-m", "sentinel_tui", "--help"], capture_output=True,
                                       check=True))
    return [("sentinel --help (process start to exit)", t, "target < 0.3 s", t < 0.3)]


def run() -> list[tuple[str, float, str, bool]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        return [*bench_long(root), *bench_wide(root), *bench_process(root), *bench_help()]
