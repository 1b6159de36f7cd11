"""The dashboard's own state beside the monitor view (no Textual), and the trend blocks of the feature table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sentinel_tui.engine.view import MonitorView
from sentinel_tui.model import Alert, EngineStats, Status

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
