"""What the dashboard shows, kept as plain data (no Textual): filled from the store on start and from
engine events afterwards. Widgets are redrawn from it on a timer, so a burst of events is one repaint."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sentinel_tui.model import (
    Alert,
    AlertEvent,
    BatchEvent,
    EngineStats,
    FeatureDrift,
    LabelsEvent,
    PerformanceResult,
    Status,
    status_of_alerts,
)

TREND_POINTS = 120  # points kept per trend panel
FEATURE_TREND_POINTS = 12  # block characters in the feature table's trend column
BLOCKS = "▁▂▃▄▅▆▇█"


def trend_blocks(values: list[float], threshold: float, width: int = FEATURE_TREND_POINTS) -> str:
    """Unicode blocks on a fixed scale (0 to 3x the threshold, or the maximum if higher): unlike a
    self-scaling sparkline, a flat line near zero stays low and comparable across features."""
    vals = [v for v in values[-width:] if v is not None and math.isfinite(v)]
    if not vals:
        return ""
    top = max(threshold * 3 if threshold and math.isfinite(threshold) else 0.0, max(vals), 1e-12)
    scale = (len(BLOCKS) - 1) / top
    return "".join([BLOCKS[int(v * scale + 0.5)] for v in vals])


@dataclass
class BatchRow:
    batch_id: int | None
    file: str
    rows: int
    status: str
    latency: float | None


@dataclass
class DashboardState:
    directory: str = ""
    baseline: str = ""
    viewer: bool = False  # showing another process's engine through the store
    features: dict[str, FeatureDrift] = field(default_factory=dict)  # latest drift result per feature
    findings: list[dict[str, Any]] = field(default_factory=list)  # of the latest batch
    feature_trends: dict[str, deque] = field(default_factory=dict)
    alerts: dict[int, Alert] = field(default_factory=dict)  # open or acknowledged
    alert_log: deque = field(default_factory=lambda: deque(maxlen=500))  # AlertEvent, newest last
    alert_log_total: int = 0  # events ever appended to alert_log
    batches: deque = field(default_factory=lambda: deque(maxlen=200))  # BatchRow, newest last
    drift_share: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    rows_per_second: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    stats: EngineStats | None = None
    last_batch_at: float | None = None
    dirty: set[str] = field(default_factory=lambda: {"status", "features", "alerts", "batches", "trends"})
    _pending: Any = None  # the newest BatchResult with drift, not yet converted for drawing
    performance: PerformanceResult | None = None  # the rolling window of labelled rows
    perf_trend: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    f1_trend: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    _perf_seen: Any = None
    frames: dict[str, Any] | None = None  # the latest frame batch: file and its embedding result (JSON form)
    embedding_trend: deque = field(default_factory=lambda: deque(maxlen=TREND_POINTS))

    @property
    def status(self) -> Status:
        return status_of_alerts(list(self.alerts.values()))

    def load_result(self, result: dict[str, Any]) -> None:
        """The latest batch result in its stored JSON form (history on start; trends are loaded apart)."""
        self.findings = result.get("validation", [])
        drift = result.get("drift")
        if drift:
            self.features = {n: FeatureDrift.from_dict(n, f) for n, f in drift["features"].items()}
            self.dirty.update({"features", "trends"})

    def load_frames(self, result: dict[str, Any]) -> None:
        """A frame batch's result in its JSON form (the stored one, or ``to_dict`` of a new one)."""
        if result.get("embedding"):
            self.frames = {"file": result.get("file", ""), "status": result.get("status", ""),
                           **result["embedding"]}
            self.dirty.add("frames")

    def trend(self, feature: str) -> deque:
        t = self.feature_trends.get(feature)
        if t is None:
            t = self.feature_trends[feature] = deque(maxlen=FEATURE_TREND_POINTS)
        return t

    def settle(self) -> None:
        """Convert the newest batch result for drawing: once per redraw, not once per event."""
        if self._pending is not None:
            result, self._pending = self._pending, None
            self.findings = [f.to_dict() for f in result.findings]
            if result.drift is not None:
                self.features = dict(result.drift.features)
                self.dirty.add("features")

    def on_batch(self, event: BatchEvent) -> None:
        r = event.result
        if r.embedding is not None:
            self.embedding_trend.append(r.embedding.score)
            self.load_frames({"file": r.file, "status": r.status.label, "embedding": r.embedding.to_dict()})
            self.dirty.add("trends")
        if r.drift is not None:
            self._pending = r
            self.drift_share.append(r.drift.share)
            for name, f in r.drift.features.items():
                if math.isfinite(f.effect_size):
                    self.trend(name).append(f.effect_size)
        elif self._pending is None:
            self.findings = [f.to_dict() for f in r.findings]
        self.batches.append(BatchRow(event.batch_id, r.file, r.rows, r.status.label, event.latency))
        self.stats = event.stats
        self.last_batch_at = event.processed_at
        if event.stats.rows_per_second is not None:
            self.rows_per_second.append(event.stats.rows_per_second)
        if event.latency is not None:
            self.latency_ms.append(event.latency * 1000)
        self.dirty.update({"batches", "status", "trends"})

    def on_alert(self, event: AlertEvent) -> None:
        a = event.alert
        if a.is_open:
            self.alerts[a.id] = a
        else:
            self.alerts.pop(a.id, None)
        if event.change != "updated" or event.previous_severity != a.severity:
            self.alert_log.append(event)
            self.alert_log_total += 1
            self.dirty.add("log")
        self.dirty.update({"alerts", "status"})

    def on_performance(self, perf: PerformanceResult | None) -> None:
        if perf is None or perf.metrics is None:
            return
        self.performance = perf
        key = "mae" if perf.task == "regression" else "accuracy"
        value = perf.metrics.get(key)
        if value is not None and (not self.perf_trend or self._perf_seen != (perf.labelled_rows, value)):
            self.perf_trend.append(value)
            if perf.metrics.get("f1") is not None:
                self.f1_trend.append(perf.metrics["f1"])
            self._perf_seen = (perf.labelled_rows, value)
        self.dirty.update({"performance", "trends"})

    def on_event(self, event: BatchEvent | AlertEvent | LabelsEvent) -> None:
        if isinstance(event, BatchEvent):
            self.on_batch(event)
            self.on_performance(event.performance)
        elif isinstance(event, LabelsEvent):
            self.on_performance(event.performance)
        else:
            self.on_alert(event)
