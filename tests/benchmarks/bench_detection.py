"""Detection quality on real data: false alarms per batch size and dataset, detection per shift and per size.

Prints its own tables (every dataset, size and shift), then returns the goal rows for `make bench`'s summary.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sentinel_tui.config import Settings

from .realdata import RealDataset, applies, build, ceiling, check, healthy, load_datasets, shift_grid, with_model

# 1,000 healthy batches per cell: at a true rate of 0.5%, 300 show 4 or more (1.3%) in one cell of 20 by chance.
HEALTHY_REPS = 1_000
SHIFT_REPS = 20


@dataclass
class Tally:
    status: int = 0
    drift: int = 0
    total: int = 0

    def add(self, status: bool, drift: bool) -> None:
        self.status += status
        self.drift += drift
        self.total += 1

    def rate(self, drift_only: bool = False) -> float:
        return (self.drift if drift_only else self.status) / self.total if self.total else float("nan")


@dataclass
class Results:
    healthy: dict[tuple[str, int], Tally] = field(default_factory=lambda: defaultdict(Tally))
    shifted: dict[tuple[str, str, int], Tally] = field(default_factory=lambda: defaultdict(Tally))
    family: dict[str, str] = field(default_factory=dict)
    ceiling: dict[tuple[str, str, int], float] = field(default_factory=dict)  # realdata.ceiling per cell

    def pooled_ceiling(self, name: str) -> float:
        cells = [v for (d, s, n), v in self.ceiling.items() if s == name]
        return float(np.mean(cells)) if cells else float("nan")

    def pooled(self, keep) -> Tally:
        t = Tally()
        for key, v in self.shifted.items():
            if keep(*key):
                t.status += v.status
                t.drift += v.drift
                t.total += v.total
        return t


def run_grid(datasets: list[RealDataset], root: Path, healthy_reps: int, shift_reps: int,
             sizes: tuple[int, ...] | None = None, seed: int = 0, settings: Settings | None = None) -> Results:
    settings = settings or Settings()
    out = Results()
    grid = shift_grid() if shift_reps else {}
    for ds in datasets:
        if ds.baseline is None:
            build(ds, root)
        path = root / f"{ds.name}_batch.csv"
        for n in ds.sizes():
            if sizes is not None and n not in sizes:
                continue
            rng = np.random.default_rng([seed, n, len(ds.name)])
            for _ in range(healthy_reps):
                o = check(ds, healthy(ds, n, rng), path, settings)
                out.healthy[ds.name, n].add(o.status_alarm, o.drift_alarm)
            for name, (family, shift) in grid.items():
                out.family[name] = family
                if not applies(name, ds, n):
                    continue
                if (best := ceiling(shift, ds, n)) is not None:
                    out.ceiling[ds.name, name, n] = best
                for _ in range(shift_reps):
                    o = check(ds, shift(ds, n, rng), path, settings)
                    out.shifted[ds.name, name, n].add(o.status_alarm, o.drift_alarm)
    return out


def _pct(x: float) -> str:
    return "  -  " if np.isnan(x) else f"{100 * x:4.0f}%"


def print_tables(res: Results, datasets: list[RealDataset], file=sys.stdout) -> None:
    sizes = sorted({n for _, n in res.healthy})
    print("\nFalse alarms on healthy batches (status not OK / drift verdict not OK), per dataset and size:", file=file)
    print(f"{'dataset':<15}" + "".join(f"{n:>14}" for n in sizes), file=file)
    for ds in datasets:
        cells = []
        for n in sizes:
            t = res.healthy.get((ds.name, n))
            cells.append(f"{_pct(t.rate())}/{_pct(t.rate(True))}" if t else f"{'':>11}")
        print(f"{ds.name:<15}" + "".join(f"{c:>14}" for c in cells), file=file)
    print("\nDetection (status not OK / drift verdict not OK), pooled over datasets, per shift and size:", file=file)
    names = list(res.family)
    width = max(len(n) for n in names) + 2
    print(f"{'shift':<{width}}" + "".join(f"{n:>12}" for n in sizes) + f"{'all':>12}", file=file)
    for name in names:
        cells = []
        for n in [*sizes, None]:
            t = res.pooled(lambda d, s, k, name=name, n=n: s == name and (n is None or k == n))
            cells.append(f"{_pct(t.rate())}/{_pct(t.rate(True))}" if t.total else "")
        print(f"{name:<{width}}" + "".join(f"{c:>12}" for c in cells), file=file)


def goals(res: Results, label: str = "real data") -> list[tuple[str, float, str, bool]]:
    worst = max((t.rate(), ds, n) for (ds, n), t in res.healthy.items())
    pooled = res.pooled(lambda d, s, n: True)
    fam = {f: res.pooled(lambda d, s, n, f=f: res.family[s] == f) for f in set(res.family.values())}
    one = {name: res.pooled(lambda d, s, n, name=name: s == name) for name in res.family}
    by_size = {k: res.pooled(lambda d, s, n, k=k: n == k) for k in (20, 40)}
    alarms = sum(t.status for t in res.healthy.values())
    healthy_total = sum(t.total for t in res.healthy.values())
    cell = res.healthy[worst[1], worst[2]]

    def oracle(name: str) -> str:
        return f"ceiling {res.pooled_ceiling(name):.2f} (an oracle that sees the labels; realdata.ceiling)"
    rows = [(f"{label}: false-alarm rate (status), all healthy batches", alarms / healthy_total,
             f"{alarms} of {healthy_total} batches", alarms / healthy_total <= 0.01),
            (f"{label}: worst false-alarm rate (status), one cell", worst[0],
             f"{cell.status} of {cell.total}: {worst[1]} at {worst[2]} rows; goal <= 1% at every size and dataset",
             worst[0] <= 0.01),
            (f"{label}: detection rate, pooled over the grid", pooled.rate(),
             f"drift verdict alone {pooled.rate(True):.2f}; goal >= 0.90", pooled.rate() >= 0.9),
            ("  rate: class prior, 90% of one class removed", one["90% of one class removed"].rate(),
             f"goal >= 0.80; {oracle('90% of one class removed')}", one["90% of one class removed"].rate() >= 0.8),
            ("  rate: class prior, 50% of one class removed", one["50% of one class removed"].rate(),
             f"goal >= 0.40; {oracle('50% of one class removed')}", one["50% of one class removed"].rate() >= 0.4),
            ("  rate: one category +10 points", one["one category +10 points"].rate(),
             f"goal >= 0.80; {oracle('one category +10 points')}", one["one category +10 points"].rate() >= 0.8),
            ("  rate: batches of 20 rows", by_size[20].rate(), "goal >= 0.60", by_size[20].rate() >= 0.6),
            ("  rate: batches of 40 rows", by_size[40].rate(), "goal >= 0.60", by_size[40].rate() >= 0.6),
            ("  rate: one feature +0.25 std", one["one feature +0.25 std"].rate(), "goal >= 0.85",
             one["one feature +0.25 std"].rate() >= 0.85)]
    rows += [(f"  rate: {f}", t.rate(), f"drift verdict alone {t.rate(True):.2f}", True)
             for f, t in sorted(fam.items())]
    return rows


def run(dataset_test: str | None = None) -> list[tuple[str, float, str, bool]]:
    """The grid twice: batches of features alone, then batches that also carry a model's outputs (its predicted
    class and probabilities, as a served model's batches do): prediction drift is the monitor's view of a change
    in the mix of classes, whose labels are not in the batch."""
    settings = Settings()
    if dataset_test is not None:
        settings.drift.dataset_test = dataset_test
    rows = []
    for label, prepare in (("real data, features only", lambda ds: ds),
                           ("real data, with model outputs", with_model)):
        start = time.perf_counter()
        datasets = [prepare(ds) for ds in load_datasets()]
        print(f"\n## {label}")
        with tempfile.TemporaryDirectory() as tmp:
            res = run_grid(datasets, Path(tmp), HEALTHY_REPS, SHIFT_REPS, settings=settings)
        print_tables(res, datasets)
        healthy_n = sum(t.total for t in res.healthy.values())
        shifted_n = sum(t.total for t in res.shifted.values())
        print(f"\n{healthy_n} healthy and {shifted_n} shifted batches in {time.perf_counter() - start:.0f} s\n")
        rows += goals(res, label)
    return rows


if __name__ == "__main__":
    # python -m tests.benchmarks.bench_detection [mean_shift|cauchy|none]: the grid with another dataset test
    for row in run(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f"{row[0]:<50} {row[1]:6.3f}  {row[2]}")
