"""The Prometheus endpoint scraped over loopback and parsed with prometheus_client's own text parser, and
/health; the real engine, store and HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sentinel_tui.integrations.prometheus import MetricsExporter, MetricsServer, label_value
from sentinel_tui.model import FeatureDrift

from .helpers import credit_batch, wait_until, write
from .localhttp import closed_port
from .test_engine import drifted, make_engine


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """metric sample name -> {sorted label items: value}"""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url + "/health", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_metrics_follow_batches_alerts_and_performance(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    exporter = MetricsExporter(engine, max_features=100)
    engine.subscribe(exporter)
    server = MetricsServer(exporter)  # default host: loopback only
    try:
        assert server.httpd.server_address[0] == "127.0.0.1"
        before = scrape(server.url)
        assert before["sentinel_status"][()] == 0 and before["sentinel_batches_total"][(("kind", "table"),)] == 0
        assert "sentinel_drift_share" not in before  # unknown until a batch says otherwise, not a fake 0

        events = []
        for i, df in enumerate([credit_batch(1000, 1), drifted(2, 1000)]):
            events.append(await engine.process(str(write(df, tmp_path / f"b{i}.csv")), time.monotonic()))
        (tmp_path / "broken.csv").write_bytes(b"\x00\x01 not a csv\n\xff\xfe")
        await engine.process(str(tmp_path / "broken.csv"), time.monotonic())

        m = scrape(server.url)
        table = (("kind", "table"),)
        assert m["sentinel_batches_total"][table] == 3 and m["sentinel_batches_failed_total"][table] == 1
        assert m["sentinel_rows_total"][table] == 2000
        assert m["sentinel_batch_latency_seconds_count"][()] == 3
        drift = events[1].result.drift
        assert m["sentinel_drift_share"][()] == pytest.approx(drift.share)
        assert m["sentinel_drifted_features"][()] == drift.drifted_count
        income = drift.features["income"]
        assert income.drifted
        assert m["sentinel_feature_effect_size"][(("feature", "income"),)] == pytest.approx(income.effect_size)
        assert m["sentinel_feature_drifted"][(("feature", "income"),)] == 1
        open_alerts = engine.open_alerts()
        critical = sum(a.severity == "critical" for a in open_alerts)
        assert critical >= 2 and m["sentinel_open_alerts"][(("severity", "critical"),)] == critical
        assert m["sentinel_status"][()] == 2
        window = engine.window
        assert window is not None and window.metrics is not None
        assert m["sentinel_performance"][(("metric", "accuracy"),)] == pytest.approx(window.metrics["accuracy"])
        assert m["sentinel_labelled_rows"][()] == window.labelled_rows
        assert m["sentinel_performance_reference"][(("metric", "accuracy"),)] == pytest.approx(
            window.reference["accuracy"])

        code, body = health(server.url)
        assert code == 200 and body["status"] == "critical" and body["batches"] == 3
        assert body["last_batch_at"].endswith("+00:00") and body["monitor"] == "running"
        engine.heartbeat = time.monotonic() - 600  # a stalled loop: the liveness probe must fail
        code, body = health(server.url)
        assert code == 503 and body["monitor"] == "stalled"
    finally:
        server.close()
        engine.store.close()


async def test_gauges_survive_a_restart(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    event = await engine.process(str(write(drifted(2, 1000), tmp_path / "b.csv")), time.monotonic())
    engine.store.close()
    engine, _ = make_engine(tmp_path, credit_baseline)
    exporter = MetricsExporter(engine)
    server = MetricsServer(exporter)
    try:
        m = scrape(server.url)
        assert m["sentinel_drift_share"][()] == pytest.approx(event.result.drift.share)
        assert m["sentinel_status"][()] == 2
        assert m["sentinel_batches_total"][(("kind", "table"),)] == 0  # counters restart, as Prometheus expects
    finally:
        server.close()
        engine.store.close()


def test_feature_labels_are_sanitised_unique_and_capped(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    exporter = MetricsExporter(engine, max_features=50)
    names = {f"f{i:03d}": (i / 1000, False) for i in range(300)}
    names['evil"}\n\x1b[31mred'] = (0.01, True)  # drifted: always among the exported ones
    names["x" * 300] = (0.9, False)
    names["x" * 300 + "y"] = (0.8, False)  # same 110-character prefix: must stay a different series
    engine.view.features = {n: FeatureDrift(n, "numeric", "ks", 0.1, 0.5, 0.01, "wasserstein_norm", size, 0.1,
                                            drifted, None, 100) for n, (size, drifted) in names.items()}
    server = MetricsServer(exporter)
    try:
        m = scrape(server.url)
    finally:
        server.close()
        engine.store.close()
    series = m["sentinel_feature_effect_size"]
    labels = [dict(k)["feature"] for k in series]
    assert len(series) == 50 and len(set(labels)) == 50
    assert m["sentinel_features_not_exported"][()] == 303 - 50
    assert "evil\"}\\x0a\\x1b[31mred" in labels  # control characters made visible, quotes escaped by the client
    assert all(len(v) <= 120 and "\x1b" not in v and "\n" not in v for v in labels)
    assert labels.count(label_value("x" * 300)) == 1 and label_value("x" * 300) != label_value("x" * 300 + "y")
    assert "f299" in labels and "f000" not in labels  # the largest effects are the ones kept


def test_headless_watch_serves_metrics_and_once_refuses_the_port(tmp_path, credit_dir):
    watch_dir = tmp_path / "w"
    watch_dir.mkdir()
    write(drifted(3, 600), watch_dir / "b0.csv")
    port = closed_port()
    base = [sys.executable, "-m", "sentinel_tui", "watch", str(watch_dir), "--baseline", "credit",
            "--baselines-dir", str(credit_dir / "baselines")]
    once = subprocess.run(base + ["--once", "--metrics-port", str(port)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert once.returncode == 3 and "--metrics-port needs a monitor that keeps running" in once.stderr
    proc = subprocess.Popen(base + ["--headless", "--metrics-port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        m: dict = {}

        def scraped_a_batch() -> bool:
            try:
                m.update(scrape(url))
                return m["sentinel_batches_total"][(("kind", "table"),)] >= 1
            except (urllib.error.URLError, ConnectionError, KeyError):
                return False

        wait_until(scraped_a_batch, 60)
        assert m["sentinel_batches_total"][(("kind", "table"),)] == 1
        assert m["sentinel_status"][()] == 2
        code, body = health(url)
        assert code == 200 and body["batches"] == 1
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"metrics on {url}/metrics" in err
