"""Deterministic dashboard input: real analysis results, fixed clocks, no watcher."""

from __future__ import annotations

from pathlib import Path

from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.events import Alert, AlertEvent, BatchEvent, EngineStats
from sentinel_tui.model import Status

from .conftest import credit_settings
from .helpers import credit_batch, write

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def batch_event(path: Path, baseline, n: int, status: Status, open_alerts: int) -> BatchEvent:
    result = analyse_file(path, baseline, credit_settings())
    stats = EngineStats(batches=n, rows_per_second=2000.0 + 50 * n, latency_p50=0.02, latency_p95=0.03,
                        drift_share=result.drift.share if result.drift else None, status=status,
                        open_alerts=open_alerts)
    return BatchEvent(result=result, batch_id=n, latency=0.015 + 0.001 * n, processed_at=T0 + 60 * n, stats=stats)


def alert(i: int, subject: str, message: str, severity: str = "critical", kind: str = "drift") -> Alert:
    return Alert(id=i, kind=kind, subject=subject, severity=severity, message=message, status="open",
                 opened_at=T0 + 60 * i, updated_at=T0 + 60 * i, resolved_at=None, acknowledged_at=None, count=1,
                 first_batch_id=i, last_batch_id=i)


def scenario_events(tmp: Path, baseline, drifting: bool) -> list:
    """Six healthy batches, then (when drifting) three with income and credit score shifted."""
    events: list = []
    for i in range(6):
        events.append(batch_event(write(credit_batch(800, 100 + i), tmp / f"batch_{i:05d}.csv"), baseline,
                                  i + 1, Status.OK, 0))
    if drifting:
        for i in range(6, 9):
            df = credit_batch(800, 100 + i)
            df["income"] *= 1.6
            df["credit_score"] -= 50
            events.append(batch_event(write(df, tmp / f"batch_{i:05d}.csv"), baseline, i + 1, Status.CRITICAL, 2))
        events.append(AlertEvent("opened", alert(1, "income", "'income' drifted: ks p=1e-60 (< 0.0005), "
                                                 "wasserstein_norm 0.62 (>= 0.1), mean shift +0.60 std")))
        events.append(AlertEvent("opened", alert(2, "credit_score", "'credit_score' drifted: ks p=1e-90 "
                                                 "(< 0.0005), wasserstein_norm 0.83 (>= 0.1)")))
    return events
