"""Integrations: what an alert change costs the event loop, webhook delivery rate to a local server, and a
Prometheus scrape of a 5,000-feature table."""

from __future__ import annotations

import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

from sentinel_tui.config import Settings
from sentinel_tui.config_file import apply_overrides
from sentinel_tui.engine.view import MonitorView
from sentinel_tui.events import Alert, AlertEvent
from sentinel_tui.integrations.actions import ActionDispatcher
from sentinel_tui.integrations.prometheus import MetricsExporter, MetricsServer
from sentinel_tui.model import FeatureDrift

from ..localhttp import Hook
from .bench_check import best_of as best

Row = tuple[str, float, str, bool]


def _event(i: int) -> AlertEvent:
    return AlertEvent("opened", Alert(id=i, kind="drift", subject=f"feature_{i}", severity="critical",
                                      message=f"'feature_{i}' drifted: ks p=1e-9", status="open", opened_at=1.7e9,
                                      updated_at=1.7e9, resolved_at=None, acknowledged_at=None, count=1,
                                      first_batch_id=1, last_batch_id=1))


def run() -> list[Row]:
    n = 500
    with tempfile.TemporaryDirectory() as tmp, Hook() as hook:
        actions = apply_overrides(Settings(), {"actions": [
            {"name": "hook", "type": "webhook", "url": hook.url, "rate_limit": 0},
            {"name": "log", "type": "jsonl", "path": "alerts.jsonl"}]}).actions
        dispatcher = ActionDispatcher(actions, directory=tmp, baseline="bench", base_dir=Path(tmp))
        events = [_event(i) for i in range(n)]
        started = time.perf_counter()
        for e in events:
            dispatcher(e)
        loop_ms = (time.perf_counter() - started) / n * 1000
        dispatcher.close(120)
        delivered_s = time.perf_counter() - started
        rate = len(hook.requests) / delivered_s
    # A scrape of a 5,000-feature table: the engine's parts the exporter reads, without a store.
    view = MonitorView()
    view.features = {f"feature_{i}": FeatureDrift(f"feature_{i}", "numeric", "ks", 0.1, 0.5, 0.01, "wasserstein_norm",
                                                  i / 5000, 0.1, i % 50 == 0, None, 1000)
                     for i in range(5000)}
    engine = SimpleNamespace(view=view, baseline=SimpleNamespace(name="bench"), directory="/data", heartbeat=None)
    exporter = MetricsExporter(engine, max_features=100)
    server = MetricsServer(exporter)
    try:
        def scrape() -> None:
            with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
                r.read()

        scrape_s = best(scrape, repeat=20)
    finally:
        server.close()
    return [("alert change on the event loop, 2 actions (ms)", loop_ms, "target <= 0.5 ms: filter, payload, queue",
             loop_ms <= 0.5),
            ("webhook deliveries to 127.0.0.1 (per second)", rate,
             f"{len(hook.requests)} of {n} delivered; target >= 100/s", rate >= 100 and len(hook.requests) == n),
            ("Prometheus scrape, 5,000 features capped to 100", scrape_s, "target <= 0.050 s", scrape_s <= 0.05)]
