"""The Dask engine gives the local engine's answers: the same baseline (counts, moments and sample exact, quantiles
within the KLL sketch's rank error) and the same validation findings, per-feature statistics, p-values and
verdicts, from partition summaries. Run on a LocalCluster and on a real scheduler with two workers started as
subprocesses on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.baseline.partials import PartialSpec, profile_partial
from sentinel_tui.config import Settings
from sentinel_tui.engine.dask_engine import build_baseline_on_cluster, check_on_cluster, cluster_client
from sentinel_tui.engine.pipeline import analyse_path
from sentinel_tui.io.coerce import coerce
from sentinel_tui.performance.assess import assess, judge
from sentinel_tui.performance.metrics import roc_auc
from sentinel_tui.performance.partial import PerformancePartial
from sentinel_tui.performance.reference import PerformanceReference
from sentinel_tui.stats import counted
from sentinel_tui.stats.mergeable import rank_error
from sentinel_tui.stats.univariate import SortedReference, compare_numeric

from .s3_server import free_port
from .test_watch_cli import wait_until


def test_ks_and_wasserstein_from_partition_counts_equal_the_whole_batch():
    rng = np.random.default_rng(1)
    worst = 0.0
    for trial in range(200):
        m, n = int(rng.integers(5, 3000)), int(rng.integers(1, 5000))
        kind = trial % 4
        if kind == 0:
            ref, b = rng.normal(size=m), rng.normal(rng.normal() * 0.3, 1, size=n)
        elif kind == 1:  # few values: ties everywhere
            ref, b = rng.integers(0, 6, m).astype(float), rng.integers(0, 7, n).astype(float)
        elif kind == 2:
            ref, b = np.round(rng.normal(size=m), 1), np.round(rng.normal(0.1, 1.2, size=n), 1)
        else:  # a large offset (timestamps, ids)
            ref, b = rng.exponential(size=m) * 1000 + 5e6, rng.exponential(size=n) * 1100 + 5e6
        r = SortedReference.from_values(ref)
        whole = compare_numeric(r, np.sort(b))
        pts = counted.ReferencePoints.of(r.values)
        cuts = np.sort(rng.integers(0, n, size=int(rng.integers(0, 6))))  # empty partitions included
        parts = [np.sort(p) for p in np.split(rng.permutation(b) - r.centre, cuts)]
        ec = None
        for p in parts:
            e = counted.ecdf_counts(p, pts.u)
            ec = e if ec is None else ec.merge(e)
        intervals, ranks = counted.crossings(pts, ec)
        parts_ec = counted.merge_all([counted.interior_values(p, pts.u, intervals) for p in parts])
        d = counted.ks_statistic(pts, ec)
        w = counted.wasserstein(pts, ec, intervals, ranks, parts_ec)
        assert d == pytest.approx(whole.ks_statistic, rel=1e-9, abs=1e-15), trial
        assert w == pytest.approx(whole.wasserstein, rel=1e-9, abs=1e-12 * max(1.0, abs(r.centre))), trial
        worst = max(worst, abs(w - whole.wasserstein) / max(whole.wasserstein, 1e-300))
    assert worst < 1e-9


def test_partial_profiles_do_not_depend_on_how_a_file_is_split():
    rng = np.random.default_rng(3)
    n = 20_000
    table = pa.table({"x": rng.normal(size=n), "k": rng.integers(0, 5, n), "c": rng.choice(["a", "b", "c"], n)})
    spec = PartialSpec({"x": "number", "k": "number", "c": "string"}, seed=0, sample_rows=1000, max_categories=1000)
    whole = profile_partial(table, "f.parquet", 0, spec)
    pieces = [profile_partial(table.slice(a, b - a), "f.parquet", a, spec)
              for a, b in [(0, 7000), (7000, 7001), (7001, 15000), (15000, n)]]
    merged = pieces[0]
    for p in pieces[1:]:
        merged = merged.merge(p, spec)
    assert merged.sample.equals(whole.sample) and merged.rows == n
    assert merged.columns["k"].counts == whole.columns["k"].counts
    assert merged.columns["c"].counts == whole.columns["c"].counts
    assert merged.columns["x"].moments.mean == pytest.approx(whole.columns["x"].moments.mean, rel=1e-12)
    assert merged.columns["x"].moments.m2 == pytest.approx(whole.columns["x"].moments.m2, rel=1e-12)


def _performance_case(task: str, rng: np.random.Generator, n: int, wrong: float):
    """(reference, truth, prediction, score) of a model that errs on about ``wrong`` of the rows."""
    if task == "regression":
        t = rng.normal(10, 3, n)
        t[rng.random(n) < 0.05] = 0.0  # zero labels: left out of MAPE
        return PerformanceReference("regression", "y", "p", metrics={"mae": 0.8}), t, t + rng.normal(
            0, 1 + 3 * wrong, n), None
    if task == "unlabelled reference":  # no classes in the reference: the batch's own make the matrix
        t = rng.choice(["0", "1"], n)
        return PerformanceReference("binary", "y", "p", metrics={"accuracy": 0.9}), t, np.where(
            rng.random(n) < wrong, rng.choice(["0", "1"], n), t), None
    if task == "one class with its probability column":
        t = np.full(n, "a", dtype=object)
        return PerformanceReference("multiclass", "y", "p", None, ("a",), ("pa",), metrics={"accuracy": 0.9}), \
            t, np.where(rng.random(n) < wrong, "b", t), rng.random((n, 1))
    labels = ["0", "1"] if task == "binary" else ["a", "b", "c"]
    t = rng.choice(labels, n)
    p = np.where(rng.random(n) < wrong, rng.choice(labels, n), t)
    if task == "binary":
        s = np.round(np.where(p == "1", 0.6, 0.4) + rng.normal(0, 0.15, n), 2).clip(0, 1)  # few distinct scores
        return PerformanceReference("binary", "y", "p", "s", tuple(labels), positive="1",
                                    metrics={"accuracy": 0.9, "f1": 0.9}), t, p, s
    s = rng.dirichlet(np.ones(3), n)
    return PerformanceReference("multiclass", "y", "p", None, tuple(labels), ("pa", "pb", "pc"),
                                metrics={"accuracy": 0.9}), t, p, s


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "unlabelled reference",
                                  "one class with its probability column"])
def test_performance_from_partition_counts_equals_the_whole_batch(task):
    rng = np.random.default_rng(5)
    settings = Settings().performance
    verdicts = set()
    for trial in range(40):
        perf, t, p, s = _performance_case(task, rng, int(rng.integers(1, 4000)) if trial % 10 else trial % 3 + 1,
                                          wrong=trial / 80)  # every tenth batch of 1-3 rows
        cuts = np.sort(rng.integers(0, len(t), size=int(rng.integers(0, 5))))
        merged = None
        for part in np.split(np.arange(len(t)), cuts):
            one = PerformancePartial.of(perf, t[part], p[part], None if s is None else s[part])
            merged = one if merged is None else merged.merge(one)
        got = judge(perf, merged.evidence(perf), replace(settings, min_labels=1))
        whole = assess(perf, t, p, s, replace(settings, min_labels=1))
        assert (got.status, got.labelled_rows, got.degraded, got.severity) == (
            whole.status, whole.labelled_rows, whole.degraded, whole.severity), (task, trial)
        assert got.metrics == _approx(whole.metrics) and got.intervals == _approx(whole.intervals), (task, trial)
        verdicts.add(got.status)
    # both verdicts were compared (one class: a prediction outside the classes is not in the matrix, so never)
    assert verdicts == ({"ok"} if task.startswith("one class") else {"ok", "degraded"})


def test_constant_labels_have_no_r2_on_either_engine():
    perf = PerformanceReference("regression", "y", "p", metrics={"mae": 0.1})
    t, p = np.full(3000, 0.1), np.full(3000, 0.1) + np.random.default_rng(2).normal(0, 0.01, 3000)
    merged = PerformancePartial.of(perf, t[:1000], p[:1000], None).merge(PerformancePartial.of(perf, t[1000:],
                                                                                               p[1000:], None))
    assert assess(perf, t, p, None, Settings().performance).metrics["r2"] is None
    assert merged.evidence(perf).metrics["r2"] is None


def test_one_labelled_row_is_no_evidence_of_degradation():
    perf = PerformanceReference("regression", "y", "p", metrics={"mae": 0.1})
    result = assess(perf, np.array([1.0]), np.array([6.0]), None, replace(Settings().performance, min_labels=1))
    assert result.status == "ok" and np.isnan(result.intervals["mae"]).all()


def test_pass_two_values_are_merged_interval_by_interval():
    rng = np.random.default_rng(4)
    parts = [counted.Interior(rng.normal(size=int(k.sum())), k) for k in rng.integers(0, 5, size=(30, 7))]
    merged = counted.merge_all(parts)
    # interval j holds every part's values of j, part after part
    offsets = [np.concatenate([[0], np.cumsum(p.lengths)]) for p in parts]
    expected = [np.concatenate([p.values[o[j]:o[j + 1]] for p, o in zip(parts, offsets, strict=True)])
                for j in range(7)]
    assert np.array_equal(merged.lengths, [e.size for e in expected])
    assert np.array_equal(merged.values, np.concatenate(expected))


def test_roc_auc_of_continuous_scores_is_binned_within_its_stated_bound():
    rng = np.random.default_rng(8)
    for trial in range(10):
        n = 40_000
        t = rng.choice(["0", "1"], n)
        s = 1 / (1 + np.exp(-(rng.normal(size=n) + (t == "1") * trial / 5)))  # n distinct scores
        perf = PerformanceReference("binary", "y", "p", "s", ("0", "1"), positive="1")
        merged = None
        for part in np.array_split(np.arange(n), 4):
            one = PerformancePartial.of(perf, t[part], t[part], s[part], (0.0, 1.0))
            merged = one if merged is None else merged.merge(one)
        metrics = merged.evidence(perf).metrics
        exact = roc_auc(t == "1", s)
        assert abs(metrics["roc_auc"] - exact) <= metrics["roc_auc_error"] < 1e-4, trial


def _frame(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    z = rng.normal(size=rows)
    df = pd.DataFrame({
        "income": np.exp(10 + 0.5 * rng.normal(size=rows) + shift),
        "age": rng.integers(18, 80, rows),
        "children": rng.integers(0, 4, rows),  # few values: a chi-square test
        "score": 1 / (1 + np.exp(-z)),
        "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        "member": rng.random(rows) < 0.3,
        "opt_in": rng.choice(["yes", "no"], rows),
        "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 30, rows), unit="s"),
        "note": [f"free text {i}" for i in rng.integers(0, 10**9, rows)],
        "zip": rng.integers(10000, 10100, rows),  # a forced category
        "pred": (z > 0).astype(int),
        "label": ((z + rng.normal(size=rows)) > 0).astype(int),
    })
    df.loc[rng.random(rows) < 0.05, "income"] = np.nan
    return df


def _write_dataset(df: pd.DataFrame, root: Path, files: int) -> Path:
    root.mkdir(parents=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), files)):
        part = root / f"day={i % 3}"
        part.mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_pandas(df.iloc[chunk], preserve_index=False), part / f"part-{i:03d}.parquet")
    return root


def _settings(engine: str = "dask", scheduler: str = "") -> Settings:
    s = Settings()
    s.columns.target, s.columns.prediction, s.columns.score = "label", "pred", "score"
    s.columns.timestamp, s.columns.categorical = "ts", ["zip"]
    s.engine.name, s.engine.scheduler = engine, scheduler
    return s


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    rng = np.random.default_rng(11)
    ref = _write_dataset(_frame(60_000, rng), root / "reference", files=6)
    healthy = _write_dataset(_frame(8_000, rng), root / "healthy", files=3)
    shifted = _frame(8_000, rng, shift=0.15)
    shifted.loc[:400, "region"] = "atlantis"  # unseen category
    shifted.loc[:800, "age"] = np.nan
    shifted.loc[:1600, "label"] = 1 - shifted.loc[:1600, "pred"]  # the model is wrong on a fifth of the rows
    return {"reference": ref, "healthy": healthy, "shifted": _write_dataset(shifted, root / "shifted", files=6)}


def _assert_same_baseline(local, remote, ref_table: pa.Table):
    eps = rank_error()
    for name, p in local.columns.items():
        q = remote.columns[name]
        assert (q.type, q.role, q.count, q.nulls, q.categories, q.other_count) == (
            p.type, p.role, p.count, p.nulls, p.categories, p.other_count), name
        if p.distinct <= 1000:
            assert (q.distinct, q.top_share) == (p.distinct, pytest.approx(p.top_share)), name
        if p.type in ("numeric", "datetime") and p.mean is not None:
            assert (q.min, q.max, q.has_infinity) == (p.min, p.max, p.has_infinity), name
            assert q.mean == pytest.approx(p.mean, rel=1e-9) and q.std == pytest.approx(p.std, rel=1e-9), name
            if p.distinct <= 1000:  # exact from the counts
                assert q.quantiles == pytest.approx(p.quantiles, rel=1e-12) and q.psi_edges == p.psi_edges
            else:  # sketched: each quantile's rank in the data within the sketch's error of the asked rank
                values = coerce(ref_table.column(name), p.type).finite_sorted
                for key, v in q.quantiles.items():
                    rank = np.searchsorted(values, v, side="right") / values.size
                    assert abs(rank - int(key[1:]) / 100) <= eps + 1 / values.size, (name, key)
    # the model's reference performance, over every reference row
    got, want = dict(remote.meta["performance"]), local.meta["performance"]
    metrics = dict(got.pop("metrics"))
    auc, error = metrics.pop("roc_auc"), metrics.pop("roc_auc_error")  # continuous scores: binned, with a bound
    assert got == _approx({k: v for k, v in want.items() if k != "metrics"})
    assert metrics == _approx({k: v for k, v in want["metrics"].items() if k != "roc_auc"})
    assert abs(auc - want["metrics"]["roc_auc"]) <= error < 1e-4
    assert remote.meta["performance"]["rows"] == ref_table.num_rows
    # the same rows, in the same order (missing values are NaN: compared as equal)
    assert remote.sample.column_names == local.sample.column_names
    for name in local.sample.column_names:
        assert remote.sample.column(name).to_pylist() == local.sample.column(name).to_pylist() or np.array_equal(
            remote.sample.column(name).to_numpy(), local.sample.column(name).to_numpy(), equal_nan=True), name


def _approx(d):
    if isinstance(d, dict):
        return {k: _approx(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_approx(v) for v in d]
    return pytest.approx(d, rel=1e-9, abs=1e-12, nan_ok=True) if isinstance(d, float) else d


def _same_results(a, b) -> None:
    assert (a.status, a.rows) == (b.status, b.rows), (a.file, a.status, b.status)
    assert [(f.check, f.severity, f.column) for f in a.findings] == [(f.check, f.severity, f.column)
                                                                     for f in b.findings]
    pa_, pb = a.performance, b.performance
    assert (pa_.status, pa_.labelled_rows, pa_.severity, pa_.degraded) == (pb.status, pb.labelled_rows, pb.severity,
                                                                          pb.degraded)
    assert pb.metrics == _approx(pa_.metrics) and pb.intervals == _approx(pa_.intervals)
    for drift_a, drift_b in ((a.drift, b.drift), (a.prediction_drift, b.prediction_drift)):
        assert drift_a.features.keys() == drift_b.features.keys() and drift_a.skipped == drift_b.skipped
        for name, f in drift_a.features.items():
            g = drift_b.features[name]
            assert (f.test, f.drifted, f.severity, f.rows) == (g.test, g.drifted, g.severity, g.rows), name
            for x, y in ((f.statistic, g.statistic), (f.p_value, g.p_value), (f.effect_size, g.effect_size)):
                assert y == pytest.approx(x, rel=1e-9, abs=1e-12), name
    ta, tb = a.drift.dataset_test, b.drift.dataset_test
    assert (ta.test, ta.fired) == (tb.test, tb.fired)
    assert tb.p_value == pytest.approx(ta.p_value, rel=1e-9, abs=1e-300)


@pytest.mark.slow
def test_a_local_cluster_gives_the_local_engines_baseline_and_verdicts(data):
    settings = _settings()
    local = build_baseline(data["reference"], "ref", _settings("local"))
    remote = build_baseline_on_cluster(data["reference"], "ref", settings)
    assert remote.meta["source"]["engine"] == "dask" and remote.meta["source"]["rows"] == 60_000
    _assert_same_baseline(local, remote, pq.read_table(data["reference"]))
    with cluster_client(settings) as client:
        got = {k: check_on_cluster(data[k], local, settings, client) for k in ("healthy", "shifted")}
        broken = data["reference"].parent / "broken"
        broken.mkdir()
        (broken / "a.parquet").write_bytes(b"PAR1 not parquet")
        bad = check_on_cluster(broken, local, settings, client)
    for k, r in got.items():
        _same_results(analyse_path(data[k], local, _settings("local")), r)
    assert got["healthy"].status.label == "ok"
    shifted = got["shifted"]
    assert shifted.drift.features["income"].drifted
    assert {f.check for f in shifted.findings} >= {"unseen_categories", "null_rate"}
    assert got["healthy"].performance.status == "ok" and shifted.performance.status == "degraded"
    assert bad.status.label == "critical" and bad.findings[0].check == "unreadable"
    assert "a.parquet" in bad.findings[0].message


def _dask(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sentinel_tui", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_real_scheduler_and_two_workers_started_as_subprocesses(data, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        started += [_dask("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                          "--host", "127.0.0.1", "--memory-limit", "2GB") for _ in range(2)]
        from distributed import Client

        assert wait_until(lambda: _workers(Client, address) == 2, timeout=90)
        bl = str(tmp_path / "baselines")
        roles = ["--target", "label", "--prediction", "pred", "--score", "score", "--timestamp", "ts",
                 "--categorical", "zip"]
        made = _cli("baseline", "create", str(data["reference"]), "--name", "remote", *roles, "--scheduler",
                    address, "--baselines-dir", bl)
        assert made.returncode == 0, made.stderr
        local = _cli("baseline", "create", str(data["reference"]), "--name", "local", *roles, "--baselines-dir", bl)
        assert local.returncode == 0
        remote_json = json.loads((tmp_path / "baselines" / "remote" / "baseline.json").read_text())
        local_json = json.loads((tmp_path / "baselines" / "local" / "baseline.json").read_text())
        for a, b in zip(remote_json["columns"], local_json["columns"], strict=True):
            assert (a["name"], a["count"], a["nulls"], a["categories"]) == (b["name"], b["count"], b["nulls"],
                                                                          b["categories"])
        on_cluster = _cli("check", str(data["shifted"]), str(data["healthy"]), "--baseline", "local",
                          "--baselines-dir", bl, "--scheduler", address, "--format", "json")
        here = _cli("check", str(data["shifted"]), str(data["healthy"]), "--baseline", "local", "--baselines-dir", bl,
                    "--format", "json")
        assert on_cluster.returncode == here.returncode and here.returncode in (1, 2), on_cluster.stderr
        for a, b in zip(json.loads(on_cluster.stdout)["batches"], json.loads(here.stdout)["batches"], strict=True):
            assert a["status"] == b["status"]
            for name, f in b["drift"]["features"].items():
                assert a["drift"]["features"][name]["p_value"] == pytest.approx(f["p_value"], rel=1e-9, abs=1e-300)
    finally:
        for proc in reversed(started):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert all(proc.poll() is not None for proc in started)


def _workers(client_cls, address: str) -> int:
    try:
        with client_cls(address, timeout="2s") as c:
            return len(c.scheduler_info()["workers"])
    except (OSError, TimeoutError):
        return 0


def test_an_unreachable_scheduler_is_a_clear_error_and_exit_3(data, tmp_path):
    start = time.monotonic()
    proc = _cli("baseline", "create", str(data["reference"]), "--name", "x", "--scheduler",
                f"tcp://127.0.0.1:{free_port()}", "--baselines-dir", str(tmp_path))
    assert proc.returncode == 3 and "cannot reach the Dask scheduler" in proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - start < 120


@pytest.mark.slow
def test_watch_hands_a_batch_over_the_memory_budget_to_the_configured_cluster(data, tmp_path):
    from distributed import LocalCluster

    from sentinel_tui.baseline.snapshot import save_baseline

    save_baseline(build_baseline(data["reference"], "ref", _settings("local")), tmp_path / "baselines" / "ref")
    watched = tmp_path / "w"
    watched.mkdir()
    pq.write_table(pq.read_table(data["shifted"]), tmp_path / "big.parquet")
    os.replace(tmp_path / "big.parquet", watched / "big.parquet")

    def watch_once(config: str, state: str) -> dict:
        (tmp_path / "sentinel.toml").write_text("[input]\nmax_batch_memory_mb = 0.2\n" + config)
        proc = _cli("watch", str(watched), "--once", "--baseline", "ref", "--baselines-dir",
                    str(tmp_path / "baselines"), "--config", str(tmp_path / "sentinel.toml"), "--state-dir",
                    str(tmp_path / state), "--format", "json")
        return json.loads(proc.stdout)["batches"][0]

    refused = watch_once("", "refused")
    assert refused["rows"] == 0 and "--engine dask" in refused["validation"][0]["message"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        offloaded = watch_once(f'[engine]\nscheduler = "{cluster.scheduler_address}"\n', "offloaded")
    assert offloaded["rows"] == 8_000, offloaded["validation"]
    assert offloaded["drift"]["features"]["income"]["drifted"]
    unreachable = watch_once(f'[engine]\nscheduler = "tcp://127.0.0.1:{free_port()}"\n', "unreachable")
    assert unreachable["status"] == "critical" and "cannot reach the Dask scheduler" in \
        unreachable["validation"][0]["message"]
