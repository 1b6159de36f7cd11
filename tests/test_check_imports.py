"""A `sentinel check` imports only what a check needs: a whole process is what cron and CI pay for, and SciPy
(0.3 s for scipy.special, 1 s for scipy.stats), pandas (0.3 s), TensorFlow and Textual are not needed to check
a CSV batch. Not a timing test: it lists the modules a check process loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.baseline.snapshot import save_baseline
from sentinel_tui.config import Settings

ROOT = Path(__file__).resolve().parent.parent
NOT_NEEDED = ("scipy", "pandas", "tensorflow", "textual", "sklearn", "PIL", "watchdog")

CHECK = """
import contextlib, io, json, sys
from sentinel_tui.cli.commands import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "report": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _table(rows: int, rng: np.random.Generator, nulls: int = 0, labelled: bool = False) -> pa.Table:
    """Numeric, categorical and boolean features; ``nulls`` missing values in the first numeric one (a small
    batch's missing values ask for a beta-binomial tail; its booleans for Fisher's exact test)."""
    levels = np.array([f"level_{k}" for k in range(12)])
    cols = {f"num_{i}": pa.array(rng.normal(i % 5, 1 + i % 3, rows).round(6)) for i in range(6)}
    cols["num_0"] = pa.array(cols["num_0"].to_numpy(), mask=np.arange(rows) < nulls)
    cols.update({f"cat_{i}": pa.array(levels[rng.integers(0, 12, rows)]) for i in range(2)})
    cols.update({f"flag_{i}": pa.array(rng.random(rows) < share) for i, share in enumerate((0.5, 0.03))})
    if labelled:  # a model's output and the truth: the performance checks run too
        classes = np.array(["no", "yes"])
        truth = rng.integers(0, 2, rows)
        cols["label"] = pa.array(classes[truth])
        cols["pred"] = pa.array(classes[np.where(rng.random(rows) < 0.8, truth, 1 - truth)])
    return pa.table(cols)


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imports")
    rng = np.random.default_rng(7)
    pacsv.write_csv(_table(20_000, rng), root / "ref.csv")
    for rows in (1_000, 10):
        pacsv.write_csv(_table(rows, rng, nulls=2), root / f"b{rows}.csv")
    save_baseline(build_baseline(root / "ref.csv", "r", Settings()), root / "bl" / "r")
    pacsv.write_csv(_table(20_000, rng, labelled=True), root / "labelled_ref.csv")
    pacsv.write_csv(_table(1_000, rng, labelled=True), root / "labelled.csv")
    settings = Settings()
    settings.columns.target, settings.columns.prediction = "label", "pred"
    save_baseline(build_baseline(root / "labelled_ref.csv", "lab", settings), root / "bl" / "lab")
    return root


@pytest.mark.parametrize("rows", [1_000, 10])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_process_imports_no_heavy_package(checked, rows, fmt):
    args = ["check", str(checked / f"b{rows}.csv"), "--baseline", "r", "--baselines-dir", str(checked / "bl"),
            "--format", fmt]
    run = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["status"] in (0, 1, 2), got
    assert got["report"]  # a report was written
    if fmt == "json":
        report = json.loads(got["report"])
        batch = report["batches"][0]
        assert batch["drift"]["tested_count"] == (10 if rows == 1_000 else 9)  # 8 values of num_0: too few
        tests = {f["test"] for f in batch["drift"]["features"].values()}
        assert "fisher_exact" in tests if rows == 10 else "two_proportion_z" in tests
        # Two missing values in ten, where the reference had none in 20,000, is a finding (one is not, with
        # ten columns checked: 2.5e-4 each, 0.25% for the batch, above the 0.1% significance)
        if rows == 10:
            assert any(f["check"] == "null_rate" for f in batch["validation"]), batch["validation"]
    heavy = [m for m in got["modules"] if m.split(".")[0] in NOT_NEEDED]
    assert heavy == [], f"a check of {rows} rows imported {heavy}"


def test_labelled_check_imports_no_heavy_package(checked):
    """A baseline with a target and a prediction: the performance metrics of the batch are computed too."""
    args = ["check", str(checked / "labelled.csv"), "--baseline", "lab", "--baselines-dir", str(checked / "bl"),
            "--format", "json"]
    run = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    batch = json.loads(got["report"])["batches"][0]
    assert batch["performance"]["metrics"]["accuracy"] > 0.7, batch["performance"]
    heavy = sorted({m.split(".")[0] for m in got["modules"]} & set(NOT_NEEDED))
    assert heavy == [], f"a labelled check imported {heavy}"
