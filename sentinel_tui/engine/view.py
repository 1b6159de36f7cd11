"""The monitor view: the one read model of the monitor's state.

Loaded from the store once, then kept current by the engine's events (``apply``), or, in a viewer that shows
another process's engine, by following the store incrementally (``follow_store``: only rows newer than those
already seen). The dashboard, the metrics exporter, ``watch --once``'s report and ``sentinel alerts`` all read
it; none of them queries the store for display on its own.

Each section carries a revision that changes whenever the section does, so a display redraws only what
changed since it last looked (several displays can follow one view). Events are applied on the loop thread;
readers on other threads (the metrics server) hold ``lock`` while they copy what they need.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentinel_tui.engine.alert_history import AlertHistories
from sentinel_tui.engine.store import Store
from sentinel_tui.events import Alert, AlertEvent, BatchEvent, EngineStats, LabelsEvent, status_of_alerts
from sentinel_tui.model import FeatureDrift, PerformanceResult, Status

TREND_POINTS = 120  # points kept per trend (drift share, rows/s, latency, accuracy, F1, embeddings)
FEATURE_TREND = 60  # effect sizes kept per feature
ALERT_LOG = 500  # alert changes kept for the log
RATE_SECONDS = 60  # rows per second are measured over the batches of the last minute
SECTIONS = ("status", "features", "alerts", "log", "batches", "trends", "performance", "frames")

WindowLoader = Callable[[], PerformanceResult | None]


@dataclass(frozen=True)
class BatchSummary:
    """What the view keeps of one batch."""

    batch_id: int | None
    file: str
    rows: int
    status: str
    drift_share: float | None
    seconds: float
    latency: float | None
    processed_at: float
    kind: str = "table"
    embedding_score: float | None = None


@dataclass(frozen=True)
class DriftVerdict:
    """The dataset verdict of the latest table batch with drift."""

    share: float
    drifted_count: int
    tested_count: int
    dataset_drift: bool
    share_threshold: float = math.nan  # dataset drift at a share of drifted features >= this
    dataset_test: dict[str, Any] | None = None  # the dataset-level test (DatasetEvidence, JSON form)


class MonitorView:
    def __init__(self, history: int = 200, load_window: WindowLoader | None = None):
        self.lock = threading.RLock()
        self._load_window = load_window
        self.batches: deque[BatchSummary] = deque(maxlen=max(1, history))
        self.batches_total = 0  # batches in the store (all time), not only those kept here
        self.feature_trends: dict[str, deque[float]] = {}
        self.features: dict[str, FeatureDrift] = {}  # of the latest table batch with drift
        self.drift: DriftVerdict | None = None
        self.findings: list[dict[str, Any]] = []  # validation findings of the latest batch (JSON form)
        self.frames: dict[str, Any] | None = None  # the latest frame batch: file, status and its embedding result
        self.alerts: dict[int, Alert] = {}  # open or acknowledged (the monitor's own faults have negative ids)
        self.alert_log: deque[AlertEvent] = deque(maxlen=ALERT_LOG)  # newest last
        self.alert_log_total = 0  # changes ever appended to the log (a display knows which are new)
        self.histories = AlertHistories()  # each alert's state history and batches (the detail of an alert)
        self.ignored = 0  # entries reported and not read (a FIFO, a device, a link not followed)
        self.performance: PerformanceResult | None = None  # the rolling window of labelled rows
        self.drift_share: deque[float] = deque(maxlen=TREND_POINTS)
        self.rows_per_second: deque[float] = deque(maxlen=TREND_POINTS)
        self.latency_ms: deque[float] = deque(maxlen=TREND_POINTS)
        self.perf_trend: deque[float] = deque(maxlen=TREND_POINTS)
        self.f1_trend: deque[float] = deque(maxlen=TREND_POINTS)
        self.embedding_trend: deque[float] = deque(maxlen=TREND_POINTS)
        self.last_batch_at: float | None = None
        self.alert_history: list[Alert] = []  # newest first; loaded on request only
        self.revision = dict.fromkeys(SECTIONS, 0)
        self._perf_seen: tuple | None = None
        self._last_batch_id = 0
        self._alerts_seen = 0.0
        self._signature: tuple | None = None

    # loading and following the store ---------------------------------------------------------------------
    @classmethod
    def load(cls, store: Store, history: int = 200, load_window: WindowLoader | None = None,
             alert_history: int = 0) -> MonitorView:
        """The state as the store holds it: recent batches, trends, the latest results, open alerts, the window,
        and the ``alert_history`` most recently changed alerts (open or not; for ``sentinel alerts --all``)."""
        view = cls(history, load_window)
        view.follow_store(store, initial=True)
        if alert_history:
            view.alert_history = store.alert_history(alert_history)
        return view

    def follow_store(self, store: Store, initial: bool = False) -> bool:
        """Take in what was written to the store since the last look (another process's engine): new batches,
        their feature statistics and results, alert changes, the window after new labels. Returns whether
        anything changed. One indexed query when nothing did."""
        signature = store.signature()
        if signature == self._signature:
            return False
        previous, self._signature = self._signature, signature
        with self.lock:
            rows = (store.recent_batches(self.batches.maxlen or 1) if initial
                    else store.batches_after(self._last_batch_id, self.batches.maxlen or 1))
            for row in rows:
                if row["rows"] == 0 and row["status"] == "ok" and row["drift_share"] is None:
                    self.ignored += 1  # only an entry that is not read gives an OK batch of no rows
                self._add_summary(BatchSummary(row["id"], row["path"], row["rows"], row["status"],
                                               row["drift_share"], row["seconds"], row["latency"],
                                               row["created_at"], row["kind"], row["embedding_score"]))
                self._last_batch_id = max(self._last_batch_id, row["id"])
            for row in (store.feature_history(FEATURE_TREND) if initial
                        else store.feature_stats_of([r["id"] for r in rows])):
                if row["effect_size"] is not None:
                    self._trend(row["feature"]).append(row["effect_size"])
            self._load_latest(store, rows)
            self.batches_total = store.batch_count()
            if initial:
                self.alerts = {a.id: a for a in store.open_alerts()}
                for a in self.alerts.values():
                    self.histories.seed(a)
            else:
                self._follow_alerts(store, previous, signature)
            self._alerts_seen = max(self._alerts_seen, signature[2] or 0.0, signature[3] or 0.0)
            labels_changed = previous is None or previous[1] != signature[1] or bool(rows)
            if self._load_window is not None and labels_changed:
                self._on_performance(self._load_window())
            self._touch("status", "alerts", "batches", "trends")
        return True

    def _follow_alerts(self, store: Store, previous: tuple | None, signature: tuple) -> None:
        for alert in store.alerts_changed_since(self._alerts_seen):
            known = self.alerts.get(alert.id)
            if alert.status == "open" and known is not None and known.status == "acknowledged":
                change = "unacknowledged" if alert.updated_at == known.updated_at else "updated"
            else:
                change = alert.status if alert.status != "open" else (
                    "opened" if alert.updated_at == alert.opened_at else "updated")
            # Unknown previous severity: an update counts as a repeat (not logged), as the engine's do.
            self._on_alert(AlertEvent(change, alert, previous_severity=alert.severity))
        if previous is not None and previous[4:] != signature[4:]:
            # An acknowledgement withdrawn leaves no time to find it by: ask for the acknowledged alerts kept.
            for alert_id in [i for i, a in self.alerts.items() if a.status == "acknowledged"]:
                alert = store.alert(alert_id)
                if alert is not None and alert.status == "open":
                    self._on_alert(AlertEvent("unacknowledged", alert, at=time.time()))

    def _load_latest(self, store: Store, rows: list) -> None:
        """The stored results of the newest table batch with drift and of the newest frame batch among ``rows``."""
        for pick in ("drift_share", "embedding_score"):
            batch_id = next((r["id"] for r in reversed(rows) if r[pick] is not None), None)
            results = store.batch_results([batch_id]) if batch_id is not None else []
            if not results:
                continue
            result = results[0]
            if pick == "embedding_score":
                self._set_frames(result)
            else:
                self.findings = result.get("validation", [])
                drift = result.get("drift")
                if drift:
                    self.features = {n: FeatureDrift.from_dict(n, f) for n, f in drift["features"].items()}
                    share = drift["share"] if drift["share"] is not None else math.nan
                    self.drift = DriftVerdict(share, drift["drifted_count"], drift["tested_count"],
                                              drift["dataset_drift"], drift.get("share_threshold") or math.nan,
                                              drift.get("dataset_test"))
                    self._touch("features")

    # events ---------------------------------------------------------------------------------------------
    def apply(self, event: BatchEvent | AlertEvent | LabelsEvent) -> None:
        with self.lock:
            if isinstance(event, BatchEvent):
                self._on_batch(event)
                self._on_performance(event.performance)
            elif isinstance(event, LabelsEvent):
                self._on_performance(event.performance)
            else:
                self._on_alert(event)

    def _on_batch(self, event: BatchEvent) -> None:
        r = event.result
        if event.replaced:  # the same file's earlier result, replaced by this one (it grew in place)
            kept = [b for b in self.batches if b.batch_id not in event.replaced]
            self.batches_total -= len(self.batches) - len(kept)
            self.batches.clear()
            self.batches.extend(kept)
        self._add_summary(BatchSummary(event.batch_id, r.file, r.rows, r.status.label,
                                       r.drift.share if r.drift else None, r.seconds, event.latency,
                                       event.processed_at, r.kind, r.embedding.score if r.embedding else None))
        self.batches_total += 1
        if r.embedding is not None:
            self._set_frames({"file": r.file, "status": r.status.label, "embedding": r.embedding.to_dict()})
        if r.drift is not None:
            d = r.drift
            self.features = d.features  # results are immutable: shared, not copied
            self.drift = DriftVerdict(d.share, d.drifted_count, d.tested_count, d.dataset_drift, d.share_threshold,
                                      d.dataset_test.to_dict() if d.dataset_test is not None else None)
            for name, f in d.features.items():
                if math.isfinite(f.effect_size):
                    self._trend(name).append(f.effect_size)
            self._touch("features")
        self.findings = [f.to_dict() for f in r.findings]
        if any(f.check == "ignored_entry" for f in r.findings):
            self.ignored += 1

    def _add_summary(self, b: BatchSummary) -> None:
        self.batches.append(b)
        self.last_batch_at = b.processed_at
        if b.drift_share is not None:
            self.drift_share.append(b.drift_share)
        if b.latency is not None:
            self.latency_ms.append(b.latency * 1000)
        if b.embedding_score is not None:
            self.embedding_trend.append(b.embedding_score)
        rate = self._rows_per_second()
        if rate is not None:
            self.rows_per_second.append(rate)
        self._touch("batches", "status", "trends")

    def _set_frames(self, result: dict[str, Any]) -> None:
        if result.get("embedding"):
            self.frames = {"file": result.get("file", ""), "status": result.get("status", ""),
                           **result["embedding"]}
            self._touch("frames", "trends")

    def _on_alert(self, event: AlertEvent) -> None:
        a = event.alert
        if a.is_open:
            self.alerts[a.id] = a
        else:
            self.alerts.pop(a.id, None)
        if event.change != "updated" or event.previous_severity != a.severity:
            self.alert_log.append(event)
            self.alert_log_total += 1
            self._touch("log")
        self.histories.add(event)
        if len(self.histories) > 2 * ALERT_LOG:  # forget those neither open nor in the log any more
            self.histories.keep(set(self.alerts) | {e.alert.id for e in self.alert_log})
        self._touch("alerts", "status")

    def alert(self, alert_id: int) -> Alert | None:
        """An open alert, or the latest state the log holds of a closed one."""
        with self.lock:
            if alert_id in self.alerts:
                return self.alerts[alert_id]
            return next((e.alert for e in reversed(self.alert_log) if e.alert.id == alert_id), None)

    def _on_performance(self, perf: PerformanceResult | None) -> None:
        if perf is None:
            return
        self.performance = perf
        key = "mae" if perf.task == "regression" else "accuracy"
        value = (perf.metrics or {}).get(key)
        if value is not None and (not self.perf_trend or self._perf_seen != (perf.labelled_rows, value)):
            self.perf_trend.append(value)
            if perf.metrics and perf.metrics.get("f1") is not None:
                self.f1_trend.append(perf.metrics["f1"])
            self._perf_seen = (perf.labelled_rows, value)
        self._touch("performance", "trends")

    def _trend(self, feature: str) -> deque[float]:
        trend = self.feature_trends.get(feature)
        if trend is None:
            trend = self.feature_trends[feature] = deque(maxlen=FEATURE_TREND)
        return trend

    def _touch(self, *sections: str) -> None:
        for s in sections:
            self.revision[s] += 1

    # figures --------------------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return status_of_alerts(list(self.alerts.values()))

    def open_alerts(self) -> list[Alert]:
        with self.lock:
            return sorted(self.alerts.values(), key=lambda a: a.id)

    def _rows_per_second(self) -> float | None:
        if len(self.batches) < 2:
            return None
        last = self.batches[-1].processed_at
        recent = [b for b in self.batches if b.processed_at >= last - RATE_SECONDS]
        span = recent[-1].processed_at - recent[0].processed_at if len(recent) >= 2 else 0.0
        return sum(b.rows for b in recent[1:]) / span if span > 0 else None

    def stats(self) -> EngineStats:
        with self.lock:
            latencies = [b.latency for b in self.batches if b.latency is not None]
            share = next((b.drift_share for b in reversed(self.batches) if b.drift_share is not None), None)
            return EngineStats(
                batches=self.batches_total, rows_per_second=self._rows_per_second(),
                latency_p50=float(np.percentile(latencies, 50)) if latencies else None,
                latency_p95=float(np.percentile(latencies, 95)) if latencies else None,
                drift_share=share, status=self.status, open_alerts=len(self.alerts))
