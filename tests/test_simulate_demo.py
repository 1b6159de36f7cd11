"""The simulator's scenarios and the demo, as a user runs them."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import Status
from sentinel_tui.simulate.tabular import SCENARIOS, generate, run_simulation

from .conftest import credit_settings
from .fresh_clone import fresh_clone, is_checkout, status, tracked_but_ignored
from .helpers import wait_until


def simulate(directory, *args):
    return subprocess.run([sys.executable, "-m", "sentinel_tui", "simulate", str(directory), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_shows_what_it_promises(tmp_path, credit_baseline, scenario):
    proc = simulate(tmp_path, "--scenario", scenario, "--batches", "4", "--drift-after", "1", "--rows", "1500")
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("batch_*.csv"))
    assert [f.name for f in files] == [f"batch_{i:05d}.csv" for i in range(4)]
    assert not list(tmp_path.glob(".*"))  # atomic renames leave no temporary files
    results = [analyse_file(f, credit_baseline, credit_settings()) for f in files]
    assert results[0].status == Status.OK  # the healthy batch before the scenario starts
    last = results[-1]
    kinds = {(a.kind.value, a.subject) for a in last.alerts}
    if scenario == "healthy":
        assert all(r.status == Status.OK for r in results)
    elif scenario in ("covariate", "gradual"):
        assert ("drift", "income") in kinds and ("drift", "credit_score") in kinds
    elif scenario == "missing":
        assert ("data_quality", "income") in kinds and ("data_quality", "region") in kinds
    elif scenario == "new_category":
        assert ("data_quality", "region") in kinds
    elif scenario == "schema_break":
        assert {("schema", "age"), ("schema", "credit_score"), ("schema", "debt_ratio")} <= kinds
    elif scenario == "corrupt":
        assert results[1].findings[0].check == "unreadable"
    elif scenario == "concept":
        # inputs stay put while the label relation changes: no input alarm, but accuracy drops
        assert last.drift.drifted_count == 0 and not last.findings
        assert last.performance.status == "degraded" and ("performance", "accuracy") in kinds
        before = pd.read_csv(files[0])
        after = pd.concat(pd.read_csv(f) for f in files[1:])
        eu = after["region"] == "EU"
        assert after.loc[eu, "default"].mean() > before.loc[before["region"] == "EU", "default"].mean() + 0.2


def test_simulator_is_seeded_and_writes_the_reference(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert simulate(d, "--batches", "2", "--seed", "5", "--reference", str(d / "ref.csv")).returncode == 0
    assert (a / "batch_00001.csv").read_bytes() == (b / "batch_00001.csv").read_bytes()
    ref = pd.read_csv(a / "ref.csv")
    assert len(ref) == 20_000 and {"default", "pred", "score", "id", "ts"} <= set(ref.columns)
    df = generate(5000, np.random.default_rng(1))
    assert 0.05 < df["default"].mean() < 0.35 and (df["pred"] == (df["score"] >= 0.5)).all()


def stored_batches(watch_dir, kind: str = "table") -> int:
    import sqlite3

    try:
        with sqlite3.connect(watch_dir / ".sentinel" / "history.sqlite3", timeout=5) as db:
            verdict = " AND embedding_score IS NOT NULL" if kind == "frames" else ""  # frames: analysed ones
            return db.execute(f"SELECT COUNT(*) FROM batches WHERE kind = ?{verdict}", (kind,)).fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


def test_demo_streams_into_the_monitor_and_stops_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "sentinel_tui.simulate.demo", "--rate", "8", "--headless", "--root",
                             str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(list((tmp_path / "watch_dir").glob("batch_*.csv"))) >= 24, 90)
        # The monitor may lag the simulator (the camera stream shares the CPU): wait until it has stored the
        # table batches, read from its own SQLite store.
        wait_until(lambda: stored_batches(tmp_path / "watch_dir") >= 20, 90)
        if importlib.util.find_spec("tensorflow") is not None:  # and a frame batch with its verdict
            wait_until(lambda: stored_batches(tmp_path / "watch_dir", "frames") >= 1, 90)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (tmp_path / "baselines" / "demo" / "baseline.json").exists()
    lines = out.splitlines()
    assert sum(1 for x in lines if " batch " in x) >= 20
    assert any("status=ok" in x for x in lines[:5])  # green first ...
    assert any("alert opened" in x and "drift" in x for x in lines)  # ... then red
    if importlib.util.find_spec("tensorflow") is not None:  # the camera stream runs beside the table stream
        assert any(" batch " in x and "embedding=PASS" in x for x in lines)
    assert "Traceback" not in err
    # The simulator runs as threads of the demo's process, which has exited and been reaped: it stopped too.
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert os.path.isdir(tmp_path / "watch_dir" / ".sentinel")


def test_simulator_writes_late_label_files(tmp_path):
    assert simulate(tmp_path, "--batches", "4", "--label-delay", "2", "--rows", "50").returncode == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["batch_00000.csv", "batch_00000.labels.csv", "batch_00001.csv", "batch_00001.labels.csv",
                     "batch_00002.csv", "batch_00003.csv"]
    assert "default" not in pd.read_csv(tmp_path / "batch_00001.csv").columns
    labels = pd.read_csv(tmp_path / "batch_00000.labels.csv")
    assert list(labels.columns) == ["id", "default"] and len(labels) == 50


@pytest.mark.skipif(not is_checkout(), reason="needs the git checkout")
def test_no_tracked_file_is_git_ignored():
    # baselines/demo/baseline.json was tracked under the ignored baselines/*, and `make demo` rewrote it
    assert tracked_but_ignored() == []


@pytest.mark.skipif(not is_checkout(), reason="needs the git checkout")
def test_the_demo_leaves_a_fresh_clone_clean(tmp_path):
    from sentinel_tui.simulate import demo

    clone = fresh_clone(tmp_path / "clone")
    assert not (clone / "baselines" / "demo").exists()  # built by the demo, not shipped
    for _ in range(2):  # the first run builds the baseline and its reference, the second reuses them
        watch_dir, baselines = demo.prepare(clone, frames=False)
        run_simulation(watch_dir, batches=2, rows=50)  # what the stream and the monitor leave behind
        (watch_dir / ".sentinel").mkdir(exist_ok=True)
    assert (baselines / "demo" / "baseline.json").exists()
    assert status(clone) == ""
