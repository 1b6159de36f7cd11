"""Headless output: one line per batch and per alert change (plain text or JSON lines)."""

from __future__ import annotations

import json
import sys
from typing import IO

from sentinel_tui.engine.alertbook import is_monitor_key
from sentinel_tui.events import AlertEvent, BatchEvent, LabelsEvent
from sentinel_tui.model import PerformanceResult, iso_utc
from sentinel_tui.textsafe import clean


class HeadlessPrinter:
    def __init__(self, fmt: str = "text", stream: IO[str] | None = None):
        self.fmt = fmt
        self.stream = stream or sys.stdout

    def __call__(self, event: BatchEvent | AlertEvent | LabelsEvent) -> None:
        if isinstance(event, AlertEvent) and event.change == "updated" \
                and event.previous_severity == event.alert.severity:
            return  # the same alert failing again: the batch line already says so
        line = self.jsonl(event) if self.fmt == "jsonl" else self.text(event)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except BrokenPipeError:
            pass
        if isinstance(event, AlertEvent) and is_monitor_key((event.alert.kind, event.alert.subject)):
            # The monitor itself fails or recovers: say so where an operator (journald, docker logs) looks.
            what = ("recovered" if event.change == "resolved" else
                    "FAILING" if event.alert.severity == "critical" else "degraded")
            print(f"sentinel: monitor {what}: {clean(event.alert.message)}", file=sys.stderr, flush=True)

    @staticmethod
    def text(event: BatchEvent | AlertEvent | LabelsEvent) -> str:
        if isinstance(event, LabelsEvent):
            ts = iso_utc(event.processed_at)
            if event.reason:
                return f"{ts} labels {clean(event.file)} unreadable: {clean(event.reason)}"
            return (f"{ts} labels {clean(event.file)} rows={event.rows} matched={event.matched} "
                    f"unmatched={event.unmatched} {_perf_text(event.performance)}")
        if isinstance(event, BatchEvent):
            r, s = event.result, event.stats
            drift = f"drift={r.drift.drifted_count}/{r.drift.tested_count}" if r.drift else "drift=-"
            if r.embedding is not None:
                e = r.embedding
                drift = f"embedding={e.verdict} score={e.score:.2f}" + (
                    f" ({clean(e.explanation)})" if e.explanation else "")
            problems = sum(1 for f in r.findings if f.severity >= 1)
            latency = f"{event.latency * 1000:.0f}ms" if event.latency is not None else "-"
            return (f"{iso_utc(event.processed_at)} batch {clean(r.file)} status={r.status.label} rows={r.rows} "
                    f"{drift} findings={problems} latency={latency} overall={s.status.label} "
                    f"open_alerts={s.open_alerts}" + (f" {_perf_text(event.performance)}" if event.performance
                                                      else ""))
        a = event.alert
        return (f"{iso_utc(a.updated_at)} alert {event.change} #{a.id} {a.severity} {a.kind} "
                f"{clean(a.subject)}: {clean(a.message)} (count={a.count})")

    @staticmethod
    def jsonl(event: BatchEvent | AlertEvent | LabelsEvent) -> str:
        if isinstance(event, LabelsEvent):
            payload = {"event": "labels", "time": iso_utc(event.processed_at), "file": event.file, "rows": event.rows,
                       "matched": event.matched, "unmatched": event.unmatched, "reason": event.reason,
                       "performance": event.performance.to_dict() if event.performance else None}
            return json.dumps(payload, ensure_ascii=False, allow_nan=False)
        if isinstance(event, BatchEvent):
            r, s = event.result, event.stats
            payload = {
                "event": "batch", "time": iso_utc(event.processed_at), "batch_id": event.batch_id, "file": r.file,
                "rows": r.rows, "status": r.status.label, "latency": event.latency, "seconds": r.seconds,
                "kind": r.kind, "drift_share": r.drift.share if r.drift else None,
                "embedding": ({"verdict": r.embedding.verdict, "score": r.embedding.score,
                               "explanation": r.embedding.explanation} if r.embedding else None),
                "drifted": [f.feature for f in r.drift.features.values() if f.drifted] if r.drift else [],
                "alerts": [a.to_dict() for a in r.alerts],
                "overall": s.status.label, "open_alerts": s.open_alerts,
                "performance": event.performance.to_dict() if event.performance else None,
            }
        else:
            payload = {"event": "alert", "change": event.change, "time": iso_utc(event.alert.updated_at),
                       **event.alert.to_dict()}
        return json.dumps(payload, ensure_ascii=False, allow_nan=False)


def _perf_text(p: PerformanceResult | None) -> str:
    if p is None or p.metrics is None:
        return "performance=-"
    key = "mae" if p.task == "regression" else "accuracy"
    return f"performance={p.status} {key}={p.metrics[key]:.3f} window={p.labelled_rows}"
