"""Parquet and Arrow IPC/Feather references and batches: files, hive-partitioned datasets, object storage (a real
S3-compatible server on 127.0.0.1), bad files, and `watch` picking up *.parquet batches."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.engine.pipeline import analyse_path
from sentinel_tui.model import Status

from .conftest import credit_settings
from .helpers import credit_batch, write
from .s3_server import SECRET, s3_server, upload


def _features(result) -> dict:
    return {n: (f.test, f.statistic, f.p_value, f.effect_size, f.severity)
            for n, f in result.drift.features.items()}


def _formats(df, root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, root / "b.parquet")
    feather.write_feather(table, root / "b.feather")
    pq.write_to_dataset(table, root / "dataset", partition_cols=["channel"])
    return {"csv": write(df, root / "b.csv"), "parquet": root / "b.parquet", "feather": root / "b.feather",
            "dataset": root / "dataset"}


def test_parquet_feather_and_a_partitioned_dataset_give_the_csv_answers(credit_baseline, tmp_path):
    df = credit_batch(1500, seed=5)
    df["income"] = df["income"] * 1.3
    paths = _formats(df, tmp_path)
    settings = credit_settings()
    results = {k: analyse_path(p, credit_baseline, settings) for k, p in paths.items()}
    expected = _features(results["csv"])
    assert expected["income"][4] is not None
    for kind in ("parquet", "feather", "dataset"):
        r = results[kind]
        assert r.rows == 1500 and not [f for f in r.findings if f.check != "out_of_range"], (kind, r.findings)
        got = _features(r)
        assert got.keys() == expected.keys()
        for name, row in expected.items():
            # the dataset comes back grouped by partition: the same rows in another order, so the
            # statistics agree to rounding, not bit for bit
            assert got[name][0] == row[0] and got[name][4] == row[4], (kind, name)
            assert got[name][1:4] == pytest.approx(row[1:4], rel=1e-9, abs=1e-12), (kind, name)


def test_a_parquet_dataset_reference_gives_the_csv_baseline(credit_dir, tmp_path):
    df = credit_batch(3000, seed=9)
    paths = _formats(df, tmp_path)
    settings = credit_settings()
    from_csv = build_baseline(paths["csv"], "c", settings)
    for kind in ("parquet", "dataset"):
        b = build_baseline(paths[kind], "p", settings)
        assert b.meta["source"]["format"] == "parquet" and b.meta["source"]["rows"] == 3000
        for name, p in from_csv.columns.items():
            q = b.columns[name]
            # ids are all distinct: which 1,000 of them are listed depends on the order rows arrive in
            listed = (lambda c: sorted(c.categories.values())) if p.role == "id" else (lambda c: c.categories)
            assert (q.type, q.role, q.count, q.nulls, q.distinct, listed(q)) == (
                p.type, p.role, p.count, p.nulls, p.distinct, listed(p)), (kind, name)
            if p.type == "numeric":
                assert q.mean == pytest.approx(p.mean, rel=1e-12) and q.quantiles == pytest.approx(p.quantiles)


def _digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def test_bad_columnar_files_become_findings_naming_them_and_are_left_untouched(credit_baseline, tmp_path):
    df = credit_batch(300, seed=3)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), good)
    whole = good.read_bytes()
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "garbage.feather").write_bytes(b"ARROW1\x00\x00 nope")
    clash = tmp_path / "clash"
    clash.mkdir()
    pq.write_table(pa.table({"income": pa.array([1.0, 2.0])}), clash / "a.parquet")
    pq.write_table(pa.table({"income": pa.array(["x", "y"])}), clash / "b.parquet")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"income": [1.0]}), mixed / "a.parquet")
    feather.write_feather(pa.table({"income": [1.0]}), mixed / "b.feather")
    bad = ["garbage.parquet", "truncated.parquet", "empty.parquet", "garbage.feather", "clash", "mixed"]
    before = {n: _digest(tmp_path / n) for n in [*bad, "good.parquet"]}
    settings = credit_settings()
    for name in bad:
        r = analyse_path(tmp_path / name, credit_baseline, settings)
        assert r.status == Status.CRITICAL and r.rows == 0, name
        (finding,) = r.findings
        assert finding.check == "unreadable" and finding.message.startswith(f"{name}: "), finding.message
        assert len(finding.values["reason"]) > 20 and "Traceback" not in finding.message
    assert analyse_path(good, credit_baseline, settings).status == Status.OK  # the others are still analysed
    assert {n: _digest(tmp_path / n) for n in before} == before


def test_a_batch_over_the_memory_budget_is_refused_naming_the_dask_engine(credit_baseline, tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(credit_batch(20_000, seed=4), preserve_index=False), path)
    settings = credit_settings()
    settings.input.max_batch_memory_mb = 1
    r = analyse_path(path, credit_baseline, settings)
    assert r.status == Status.CRITICAL and "--engine dask" in r.findings[0].message
    settings.input.max_batch_memory_mb = 0
    assert analyse_path(path, credit_baseline, settings).rows == 20_000


def test_watch_once_analyses_parquet_batches(credit_dir, tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    ok, bad = credit_batch(500, seed=21), credit_batch(500, seed=22)
    bad["income"] = bad["income"] * 3
    for name, df in (("b1.parquet", ok), ("b2.parquet", bad)):
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / name)
        os.replace(tmp_path / name, watched / name)  # published by rename, as producers should
    proc = subprocess.run([sys.executable, "-m", "sentinel_tui", "watch", str(watched), "--once", "--baseline",
                           "credit", "--baselines-dir", str(credit_dir / "baselines"), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    assert proc.returncode == 2, proc.stderr
    assert {b["file"].rsplit("/", 1)[-1]: b["status"] for b in report["batches"]} == {
        "b1.parquet": "ok", "b2.parquet": "critical"}


def test_a_missing_filesystem_package_or_contradicting_flags_are_setup_errors_exit_3(credit_dir):
    bl = ("--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines"))
    # gcsfs is in no extra: the package to install is named, and the batch is not reported CRITICAL
    missing = _cli("check", "gs://bucket/batch.parquet", *bl, env={})
    assert missing.returncode == 3 and "gs:// URLs need gcsfs" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr and "CRITICAL" not in missing.stdout
    both = _cli("check", "gs://bucket/batch.parquet", *bl, "--engine", "local", "--scheduler", "tcp://h:8786",
                env={})
    assert both.returncode == 3 and "does not go with --engine local" in both.stderr, both.stderr


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sentinel_tui", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **env})


def test_references_and_batches_on_s3_through_a_real_s3_server(tmp_path):
    ref = _formats(credit_batch(4000, seed=31), tmp_path / "ref")
    shifted = credit_batch(1000, seed=32)
    shifted["debt_ratio"] = shifted["debt_ratio"] + 0.2
    batch = _formats(shifted, tmp_path / "batch")
    bl = str(tmp_path / "baselines")
    roles = ["--target", "default", "--prediction", "pred", "--score", "score", "--id", "id", "--timestamp", "ts"]
    with s3_server() as env:
        upload(env, ref["dataset"], "s3://models/credit/reference")
        upload(env, batch["parquet"], "s3://models/credit/batches/2026-12-01.parquet")
        created = _cli("baseline", "create", "s3://models/credit/reference/", "--name", "remote", *roles,
                       "--baselines-dir", bl, env=env)
        assert created.returncode == 0, created.stderr
        remote = _cli("check", "s3://models/credit/batches/2026-12-01.parquet", "s3://models/credit/batches/none.parquet",
                      "s3://user:hunter2@models/x.parquet", "--baseline", "remote", "--baselines-dir", bl,
                      "--format", "json", env=env)
    local = _cli("baseline", "create", str(ref["csv"]), "--name", "local", *roles, "--baselines-dir", bl, env={})
    assert local.returncode == 0
    here = json.loads(_cli("check", str(batch["csv"]), "--baseline", "local", "--baselines-dir", bl, "--format",
                           "json", env={}).stdout)
    report = json.loads(remote.stdout)
    assert remote.returncode == 2
    got, missing, userinfo = report["batches"]
    assert got["file"] == "s3://models/credit/batches/2026-12-01.parquet" and got["rows"] == 1000
    want = here["batches"][0]["drift"]["features"]
    for name, f in got["drift"]["features"].items():
        assert f["severity"] == want[name]["severity"] and f["p_value"] == pytest.approx(want[name]["p_value"],
                                                                                     rel=1e-9, abs=1e-300), name
    assert got["drift"]["features"]["debt_ratio"]["severity"] == "critical"
    assert missing["status"] == "critical" and "no such file" in missing["validation"][0]["message"]
    assert userinfo["status"] == "critical" and "not accepted" in userinfo["validation"][0]["message"]
    assert "hunter2" not in remote.stdout + remote.stderr
    saved = (tmp_path / "baselines" / "remote" / "baseline.json").read_text()
    for text in (created.stdout, created.stderr, remote.stdout, remote.stderr, saved):
        assert SECRET not in text and "testing-key" not in text
