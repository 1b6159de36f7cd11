"""What the malloc setting (engine/allocator.py, process-wide) is worth: the same `sentinel check` of a
300,000-row batch as a whole process, once as shipped and once with SENTINEL_NO_MALLOC_TUNING=1; the time of
each process and its peak resident set size."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from sentinel_tui.engine.allocator import DISABLE_ENV

Row = tuple[str, float, str, bool]

# The command as `sentinel` runs it, then whether the setting is in force and the process's own peak RSS (VmHWM).
_CHILD = ("import sys; from sentinel_tui.cli.commands import main; from sentinel_tui.engine.allocator import "
          "tune_allocator; main(sys.argv[1:]); print(tune_allocator(), file=sys.stderr); "
          "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0], "
          "file=sys.stderr)")


def _table(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pa.Table:
    """20 numeric and 5 categorical columns, as in bench_check."""
    cols: dict[str, pa.Array] = {f"num_{i:02d}": pa.array(rng.normal(i % 5 + shift, 1 + i % 3, rows).round(6))
                                 for i in range(20)}
    levels = np.array([f"level_{k}" for k in range(12)])
    for i in range(5):
        cols[f"cat_{i}"] = pa.array(levels[rng.integers(0, 12, rows)])
    return pa.table(cols)


def _check(argv: list[str], tuned: bool) -> tuple[float, float, bool]:
    """(seconds, peak RSS in MB, whether the setting was in force) of one `sentinel check` process."""
    env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    if not tuned:
        env[DISABLE_ENV] = "1"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 2):
        raise RuntimeError(f"sentinel check failed ({done.returncode}): {done.stderr[-2000:]}")
    in_force, peak_kb = done.stderr.strip().splitlines()[-2:]
    return seconds, int(peak_kb) / 1024, in_force == "True"


def run() -> list[Row]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pacsv.write_csv(_table(200_000, rng), root / "ref.csv")
        batch = root / "batch.csv"
        pacsv.write_csv(_table(300_000, rng, shift=0.05), batch)
        subprocess.run([sys.executable, "-m", "sentinel_tui", "baseline", "create", str(root / "ref.csv"),
                        "--name", "alloc", "--baselines-dir", str(root / "b")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = ["check", str(batch), "--baseline", "alloc", "--baselines-dir", str(root / "b"), "--format", "json"]
        best = {True: [float("inf"), float("inf")], False: [float("inf"), float("inf")]}
        in_force = {}
        # Interleaved, so both see the same load from whatever else runs on the machine.
        for _ in range(5):
            for tuned in (True, False):
                seconds, peak, in_force[tuned] = _check(argv, tuned)
                best[tuned] = [min(best[tuned][0], seconds), min(best[tuned][1], peak)]
    (t_on, rss_on), (t_off, rss_off) = best[True], best[False]
    where = "" if in_force[True] else "  (not in force here: not Linux/glibc, both runs untuned)"
    assert not in_force[False]
    return [("sentinel check, 300,000 rows x 25 columns, whole process: malloc setting on", t_on,
             f"as shipped{where}", True),
            (f"  same with {DISABLE_ENV}=1", t_off, f"setting off: {t_off / t_on:.2f}x the time", True),
            ("  peak RSS (MB), malloc setting on", rss_on, "", True),
            ("  peak RSS (MB), setting off", rss_off, f"{rss_off - rss_on:+.0f} MB", True)]
