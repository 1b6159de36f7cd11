"""The dashboard's own state beside the monitor view (no Textual): the trend lines and their scales, the blocks
they are drawn with, and the age of the last batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sentinel_tui.engine.view import MonitorView
from sentinel_tui.events import Alert, EngineStats
from sentinel_tui.model import Status

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
    return "".join([BLOCKS[int(v * scale + 0.5)] for v in vals])  # 1,000 features per redraw: kept lean


def scaled_blocks(values: list[float], low: float | None, high: float | None, width: int) -> str:
    """The last ``width`` values as blocks between ``low`` and ``high`` (one block per value, the newest on the
    right); None for both: between the lowest and the highest of those values (a flat line is drawn mid-height)."""
    vals = [v for v in values if v is not None and math.isfinite(v)][-width:] if width > 0 else []
    if not vals:
        return ""
    lo, hi = (min(vals), max(vals)) if low is None or high is None else (low, high)
    if hi - lo <= 1e-12:
        return BLOCKS[len(BLOCKS) // 2 - 1] * len(vals) if low is None else BLOCKS[0] * len(vals)
    scale = (len(BLOCKS) - 1) / (hi - lo)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, max(0, int((v - lo) * scale + 0.5)))] for v in vals)


@dataclass(frozen=True)
class TrendRow:
    """One line of the trends panel: what is drawn, on which scale, and what is written beside it."""

    key: str  # the panel's id without "trend-"
    title: str
    values: list[float]
    value: str  # the current value, with its unit
    note: str = ""  # the reference or threshold ("ref 85%"), or for a min-max scale the range it spans
    low: float | None = 0.0  # the fixed scale; None: between the lowest and highest values shown
    high: float | None = 1.0
    short: str = ""  # the title where the width is short
    optional_note: bool = False  # the note is a range, shown only where there is room (a reference always is)

    @property
    def short_title(self) -> str:
        return self.short or self.title


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x * 100:.0f}%"


def trend_rows(view: MonitorView) -> list[TrendRow]:
    """Every trend with its scale: shares and scores on 0-100% with their reference or threshold beside the
    value; MAE from 0 to twice its reference; only rows/s and latency between their own lowest and highest."""
    rows = []
    share = view.drift.share_threshold if view.drift is not None else math.nan
    drift = list(view.drift_share)
    rows.append(TrendRow("drift", "drift share", drift, _pct(drift[-1]) if drift else "",
                         f"alarm {_pct(share)}" if math.isfinite(share) else "", short="drift"))
    for key, title, unit, values in (("rows", "rows/s", "", list(view.rows_per_second)),
                                     ("latency", "latency", " ms", list(view.latency_ms))):
        span = f"{min(values):,.0f}-{max(values):,.0f}" if values and f"{min(values):,.0f}" != f"{max(values):,.0f}" \
            else ""
        rows.append(TrendRow(key, title, values, f"{values[-1]:,.0f}{unit}" if values else "", span, None, None,
                             optional_note=True))
    perf = view.performance
    ref = (perf.reference or {}) if perf is not None else {}
    acc = list(view.perf_trend)
    if perf is not None and perf.task == "regression":
        mae = ref.get("mae")
        rows.append(TrendRow("perf", "MAE", acc, f"{acc[-1]:.3g}" if acc else "",
                             f"ref {mae:.3g}" if mae is not None else "", 0.0, max(2 * (mae or 0.0), *acc, 1e-12)))
    else:
        rows.append(TrendRow("perf", "accuracy", acc, _pct(acc[-1]) if acc else "",
                             f"ref {_pct(ref.get('accuracy'))}" if ref.get("accuracy") is not None else ""))
    f1 = list(view.f1_trend)
    rows.append(TrendRow("f1", "F1", f1, _pct(f1[-1]) if f1 else "",
                         f"ref {_pct(ref.get('f1'))}" if ref.get("f1") is not None else ""))
    emb = list(view.embedding_trend)
    fail = (view.frames or {}).get("score_threshold")
    rows.append(TrendRow("embedding", "embeddings", emb, _pct(emb[-1]) if emb else "",
                         f"fail {_pct(fail)}" if fail is not None else "", short="embed"))
    return rows


def batch_age(last: float, now: float, clock_format: str = "%H:%M:%S") -> str:
    """How long ago the last batch was processed ("26s ago", "12m ago", "3h 5m ago"), or, a day and more ago
    (or in the future: a clock moved), when."""
    seconds = now - last
    if 0 <= seconds < 60:
        return f"{seconds:.0f}s ago"
    if 0 <= seconds < 3600:
        return f"{seconds // 60:.0f}m ago"
    if 0 <= seconds < 86400:
        return f"{seconds // 3600:.0f}h {seconds % 3600 // 60:.0f}m ago"
    return "at " + datetime.fromtimestamp(last).strftime("%Y-%m-%d " + clock_format)


@dataclass
class DashboardState:
    """What the status line shows besides the monitor's state: which directory and baseline, and whether this
    dashboard is a viewer. The monitor's state itself is the engine's ``MonitorView`` (``view``)."""

    view: MonitorView
    directory: str = ""
    baseline: str = ""
    viewer: bool = False  # showing another process's engine through the store
    engine: bool = False  # backed by an engine (its figures show from the start, "0 batches" included)

    @property
    def status(self) -> Status:
        return self.view.status

    @property
    def alerts(self) -> dict[int, Alert]:
        return self.view.alerts

    @property
    def stats(self) -> EngineStats | None:
        return self.view.stats() if self.view.batches_total or self.engine else None

    @property
    def last_batch_at(self) -> float | None:
        return self.view.last_batch_at
