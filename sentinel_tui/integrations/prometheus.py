"""Prometheus metrics and a liveness endpoint: a collector over the engine's monitor view, an engine subscriber
for the counters, and a small HTTP server.

A scrape copies what it needs from the view under the view's lock (the engine updates it on the loop thread)
and never touches SQLite or waits for analysis. Gauges describe
the latest state (status, open alerts, drift share, effect sizes, rolling performance, embedding score);
counters and the latency histogram accumulate from the monitor's start, as Prometheus expects.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from sentinel_tui import __version__
from sentinel_tui.events import AlertEvent, BatchEvent, LabelsEvent, alerts_document
from sentinel_tui.model import BatchResult, Status, iso_utc
from sentinel_tui.textsafe import clean

# "_created" series double every counter for a timestamp Prometheus does not use (it detects resets itself).
disable_created_metrics()

MAX_LABEL = 120  # characters of a feature name kept in a label value
STALL_SECONDS = 60.0  # /health answers 503 when the engine's loop has not ticked for this long
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def label_value(name: str) -> str:
    """A feature name as a Prometheus label value: valid UTF-8, no control characters, bounded length. A
    truncated name keeps a short hash so two long names sharing a prefix stay two series."""
    text = clean(name).encode("utf-8", "replace").decode("utf-8")
    if len(text) > MAX_LABEL:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        text = f"{text[:MAX_LABEL - 10]}…{digest}"
    return text


def is_failed(result: BatchResult) -> bool:
    """A batch that could not be analysed at all (unreadable, empty, schema broken beyond testing)."""
    return result.drift is None and result.embedding is None


def _scalar_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    skip = {"rows", "mape_rows_excluded"}
    return {k: float(v) for k, v in (metrics or {}).items()
            if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)}


class MetricsExporter:
    """Engine subscriber and Prometheus collector. ``registry`` holds only Sentinel's metrics (no process or
    platform collectors of other code), so two monitors in one process never clash."""

    def __init__(self, engine: Any, max_features: int = 100):
        self.engine = engine
        self.max_features = max_features
        self.registry = CollectorRegistry(auto_describe=True)
        self.view = engine.view  # the one read model: the gauges, /health and /alerts read it
        r = self.registry
        self.batches = Counter("sentinel_batches", "Batches processed, by kind (table | frames)", ["kind"], registry=r)
        self.batches_failed = Counter("sentinel_batches_failed", "Batches that could not be analysed (unreadable, "
                                      "empty, schema too broken to test)", ["kind"], registry=r)
        self.rows = Counter("sentinel_rows", "Rows (table) or frames (frames) processed", ["kind"], registry=r)
        self.rows_failed = Counter("sentinel_rows_failed", "Rows of batches that could not be analysed", ["kind"],
                                   registry=r)
        self.label_rows = Counter("sentinel_label_rows", "Late label rows joined to stored predictions, by outcome "
                                  "(matched | unmatched)", ["outcome"], registry=r)
        self.latency = Histogram("sentinel_batch_latency_seconds", "Seconds from a batch being complete on disk to "
                                 "its result being stored and published", buckets=LATENCY_BUCKETS, registry=r)
        for kind in ("table", "frames"):  # present from the first scrape: rate() needs the zero
            for c in (self.batches, self.batches_failed, self.rows, self.rows_failed):
                c.labels(kind=kind)
        for outcome in ("matched", "unmatched"):
            self.label_rows.labels(outcome=outcome)
        self.started = time.time()
        self.registry.register(self)

    # subscriber (loop thread) ------------------------------------------------------------------------------
    def __call__(self, event: BatchEvent | AlertEvent | LabelsEvent) -> None:
        if isinstance(event, BatchEvent):
            r = event.result
            failed = is_failed(r)
            self.batches.labels(kind=r.kind).inc()
            self.rows.labels(kind=r.kind).inc(r.rows)
            if failed:
                self.batches_failed.labels(kind=r.kind).inc()
                self.rows_failed.labels(kind=r.kind).inc(r.rows)
            if event.latency is not None:
                self.latency.observe(event.latency)
        elif isinstance(event, LabelsEvent):
            self.label_rows.labels(outcome="matched").inc(event.matched)
            self.label_rows.labels(outcome="unmatched").inc(event.unmatched)

    # collector (server thread) -----------------------------------------------------------------------------
    def status(self) -> Status:
        with self.view.lock:
            return self.view.status

    def describe(self) -> list[Metric]:
        return []  # the families below vary (absent until known); no fixed description to register

    def collect(self) -> Iterator[Metric]:
        v = self.view
        with v.lock:
            alerts = [a.severity for a in v.alerts.values()]
            features = {n: (f.effect_size if f.effect_size == f.effect_size else None, f.drifted)
                        for n, f in v.features.items()}
            drift, perf, last = v.drift, v.performance, v.last_batch_at
            emb = (v.frames["score"], v.frames["verdict"] == "FAIL") if v.frames else None
        g = GaugeMetricFamily
        info = g("sentinel_info", "Monitor identity", labels=["baseline", "directory", "version"])
        info.add_metric([label_value(self.engine.baseline.name), label_value(str(self.engine.directory)),
                         __version__], 1)
        yield info
        yield g("sentinel_status", "Overall status: 0 ok, 1 warning, 2 critical (worst open alert)",
                value=int(self.status()))
        by_severity = g("sentinel_open_alerts", "Open (or acknowledged) alerts by severity", labels=["severity"])
        for severity in ("warning", "critical"):
            by_severity.add_metric([severity], sum(1 for s in alerts if s == severity))
        yield by_severity
        if last is not None:
            yield g("sentinel_last_batch_timestamp_seconds", "Unix time of the latest processed batch", value=last)
        if drift is not None:
            yield g("sentinel_drift_share", "Share of tested features that drifted in the latest table batch",
                    value=drift.share)
            yield g("sentinel_drifted_features", "Features that drifted in the latest table batch",
                    value=drift.drifted_count)
            yield g("sentinel_tested_features", "Features tested in the latest table batch", value=drift.tested_count)
            yield g("sentinel_dataset_drift", "1 when the latest table batch drifted as a whole",
                    value=int(drift.dataset_drift))
        yield from self._feature_families(features)
        if perf is not None and perf.metrics is not None:
            current = g("sentinel_performance", "Model quality on the rolling window of labelled rows",
                        labels=["metric"])
            for name, value in _scalar_metrics(perf.metrics).items():
                current.add_metric([name], value)
            reference = g("sentinel_performance_reference", "The same metrics on the baseline's reference",
                          labels=["metric"])
            for name, value in _scalar_metrics(perf.reference).items():
                reference.add_metric([name], value)
            yield current
            yield reference
            yield g("sentinel_performance_degraded", "1 when the window is worse than the reference (interval "
                    "and tolerance)", value=int(perf.status == "degraded"))
            yield g("sentinel_labelled_rows", "Labelled rows in the rolling window", value=perf.labelled_rows)
        if emb is not None:
            yield g("sentinel_embedding_drift_score", "Share of embedding PCA components that drifted in the "
                    "latest frame batch", value=emb[0])
            yield g("sentinel_embedding_drift", "1 when the latest frame batch's embeddings drifted", value=int(emb[1]))

    def _feature_families(self, features: dict[str, tuple[float | None, bool]]) -> Iterator[Metric]:
        if not features:
            return
        # Capped: drifted features first, then the largest effects; the rest are counted, not exported.
        ranked = sorted(features.items(), key=lambda kv: (not kv[1][1], -(kv[1][0] or 0.0), kv[0]))
        kept = ranked[: self.max_features]
        effect = GaugeMetricFamily("sentinel_feature_effect_size", "Effect size of each feature's drift in the "
                                   "latest table batch (capped: drifted and largest first)", labels=["feature"])
        drifted = GaugeMetricFamily("sentinel_feature_drifted", "1 when the feature drifted in the latest table "
                                    "batch", labels=["feature"])
        seen: set[str] = set()
        for name, (size, is_drifted) in kept:
            value = label_value(name)
            while value in seen:  # two names made equal by cleaning must stay two series
                value += "~"
            seen.add(value)
            if size is not None and size == size:
                effect.add_metric([value], size)
            drifted.add_metric([value], int(bool(is_drifted)))
        yield effect
        yield drifted
        yield GaugeMetricFamily("sentinel_features_not_exported", "Features left out by the series cap "
                                "([metrics] max_features)", value=len(features) - len(kept))

    def health(self) -> tuple[int, dict[str, Any]]:
        """Health of the monitor, not of the data: 200 while the engine's loop ticks and nothing of the monitor
        itself fails, whatever the data's status (a drifting model is not a reason to restart the monitor);
        503 with the reason when the loop has stalled or the monitor fails (store, watcher, a task)."""
        beat = getattr(self.engine, "heartbeat", None)
        age = time.monotonic() - beat if beat is not None else None
        alive = age is None or age < STALL_SECONDS
        failure = getattr(self.engine, "failure", None)
        with self.view.lock:
            last, batches, open_alerts = self.view.last_batch_at, self.view.batches_total, len(self.view.alerts)
        state = "stalled" if not alive else "failing" if failure else "running"
        body = {"status": self.status().label, "monitor": state,
                "reason": (f"event loop has not ticked for {age:.0f} s" if not alive else failure),
                "last_batch_at": iso_utc(last),
                "last_batch_age_seconds": round(time.time() - last, 1) if last else None,
                "batches": batches, "open_alerts": open_alerts,
                "uptime_seconds": round(time.time() - self.started, 1), "version": __version__}
        return (200 if state == "running" else 503), body

    def alerts_document(self) -> dict[str, Any]:
        return alerts_document(self.view.open_alerts())


class _Handler(BaseHTTPRequestHandler):
    exporter: MetricsExporter  # set on the subclass the server creates

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.exporter.registry), content_type)
        elif path in ("/health", "/healthz"):
            code, body = self.exporter.health()
            self._send(code, json.dumps(body).encode(), "application/json")
        elif path == "/alerts":
            self._send(200, json.dumps(self.exporter.alerts_document(), ensure_ascii=False, allow_nan=False)
                       .encode(), "application/json")
        elif path == "/":
            self._send(200, b"sentinel-tui: /metrics (Prometheus), /health and /alerts (JSON)\n",
                       "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # a scrape every 15 s must not fill stderr (or draw over the dashboard)


class MetricsServer:
    """``/metrics`` and ``/health`` in a daemon thread. Port 0 picks a free port (see ``port``)."""

    def __init__(self, exporter: MetricsExporter, host: str = "127.0.0.1", port: int = 0):
        handler = type("Handler", (_Handler,), {"exporter": exporter})
        server_class = type("Server", (ThreadingHTTPServer,), {
            "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET, "daemon_threads": True})
        self.httpd = server_class((host, port), handler)
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sentinel-metrics", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
