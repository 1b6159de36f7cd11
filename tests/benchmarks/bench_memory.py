"""Peak memory of one big batch: a 500 MB CSV of numbers through `sentinel check` and `sentinel watch --once`
(each a fresh process; the figure is its peak resident set size)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

Row = tuple[str, float, str, bool]


def _write(path: Path, target_mb: int, rng: np.random.Generator) -> int:
    """Numbers only (25 columns), appended in slices until the file reaches ``target_mb``."""
    names = [f"x{i:02d}" for i in range(25)]
    with pacsv.CSVWriter(str(path), pa.schema([(n, pa.float64()) for n in names])) as out:
        while path.stat().st_size < target_mb * 1_000_000:
            block = rng.normal(size=(200_000, len(names))).round(6)
            out.write_table(pa.table({n: block[:, i] for i, n in enumerate(names)}))
    return path.stat().st_size


_CHILD = ("import sys; from sentinel_tui.cli.commands import main; main(sys.argv[1:]); "
          "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0], "
          "file=sys.stderr)")


def _peak_mb(argv: list[str]) -> float:
    """The peak resident set of one `sentinel` run, as the process itself reports it (VmHWM; ru_maxrss would
    also count the benchmark process it was forked from)."""
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def run() -> list[Row]:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root / "ref.csv", 20, rng)
        watched = root / "w"
        watched.mkdir()
        size = _write(watched / "big.csv", 500, rng)
        subprocess.run([sys.executable, "-m", "sentinel_tui", "baseline", "create", str(root / "ref.csv"),
                        "--name", "num", "--baselines-dir", str(root / "b")], check=True,
                        stderr=subprocess.DEVNULL)
        common = ["--baseline", "num", "--baselines-dir", str(root / "b"), "--max-file-mb", "600"]
        check = _peak_mb(["check", str(watched / "big.csv"), *common])
        once = _peak_mb(["watch", str(watched), "--once", *common])
    mb = size / 1e6
    return [(f"peak RSS (MB), check of a {mb:.0f} MB CSV of numbers", check, "target <= 1,500 MB", check <= 1500),
            (f"peak RSS (MB), watch --once of the same {mb:.0f} MB CSV", once, "target <= 1,500 MB", once <= 1500)]
