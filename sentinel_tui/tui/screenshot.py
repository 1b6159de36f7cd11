"""Render the README screenshot: `make demo` in its drift phase, drawn by the current dashboard, deterministically.

    python -m sentinel_tui.tui.screenshot docs/screenshot.svg           # make screenshot
    python -m sentinel_tui.tui.screenshot --record watch_dir/.sentinel  # after a `make demo` run: new recording

The table stream is the demo's own (DEMO_PLAN: the same scenarios, seeds and rows), written to a scratch
directory and analysed by the real engine, so features, drift, the performance window and the alerts are what
Sentinel computes today. Two things cannot be recomputed quickly and identically on every machine, so they are
replayed from a recording of a `make demo` run (RECORDING): when each batch was processed and with what latency,
and the camera stream's results (MobileNetV2 embeddings need TensorFlow and a minute); the frame alerts come
from those results through the real alert rules. The clock is fixed (UTC, the first batch at 14:32:05), so the
SVG changes only when the dashboard or the analysis does: tests/test_readme.py fails when docs/screenshot.svg
is not what this draws.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.alertbook import judge, scope
from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import Alert, AlertEvent, BatchEvent
from sentinel_tui.model import (
    AlertKind,
    AlertRecord,
    BatchResult,
    EmbeddingResult,
    FeatureDrift,
    Finding,
    Severity,
    Status,
)
from sentinel_tui.simulate.tabular import DEMO_PLAN, DEMO_ROWS, ROLES, run_simulation, write_reference
from sentinel_tui.tui.app import SentinelApp

RECORDING = Path(__file__).resolve().parents[2] / "docs" / "screenshot-demo.json"
SIZE = (120, 34)
T0 = 1_773_325_925.0  # 2026-03-12 14:32:05 UTC: clock times that read as times of day, not as durations
CUT = 24.0  # seconds after the first batch: 24 table batches (the gradual shift, then 4 of the sudden one)


# the recording ----------------------------------------------------------------------------------------------
def record(state_dir: Path, out: Path, cut: float = CUT) -> None:
    """From a `make demo` run's store: each batch's time (seconds after the first) and latency up to ``cut``,
    and the frame batches' results."""
    store = Store(state_dir)
    try:
        rows = store.recent_batches(1_000_000)
        t0 = rows[0]["created_at"]
        batches: list[dict[str, Any]] = []
        for row in rows:
            at = round(row["created_at"] - t0, 3)
            if at > cut:
                break
            entry = {"kind": row["kind"], "name": Path(row["path"]).name, "at": at,
                     "latency": round(row["latency"], 4) if row["latency"] is not None else None}
            if row["kind"] == "frames":
                result = store.batch_results([row["id"]])[0]
                entry["result"] = {**result, "file": entry["name"], "seconds": round(result["seconds"], 3)}
            batches.append(entry)
    finally:
        store.close()
    head = json.dumps({"recorded": "python -m sentinel_tui.tui.screenshot --record watch_dir/.sentinel, after "
                                   "make demo", "cut_seconds": cut})
    lines = ",\n".join(json.dumps(b) for b in batches)  # one batch a line
    out.write_text(f'{head[:-1]}, "batches": [\n{lines}\n]}}\n', encoding="utf-8")


def frame_result(d: dict[str, Any]) -> BatchResult:
    """A frame batch's result from its JSON form (BatchResult.to_dict)."""
    e = d["embedding"]
    embedding = EmbeddingResult(
        frames=e["frames"], score=e["score"], drifted_components=e["drifted_components"],
        components=e["components"], score_threshold=e["score_threshold"], p_threshold=e["p_threshold"],
        drifted=e["verdict"] == "FAIL", severity=Severity[e["severity"].upper()] if e["severity"] else None,
        mmd2=e["mmd"]["mmd2"], mmd_p_value=e["mmd"]["p_value"], mmd_permutations=e["mmd"]["permutations"],
        distance=e["distance"], distance_null_p99=e["distance_null_p99"],
        component_p_values=tuple(e["component_p_values"]),
        image_stats={n: FeatureDrift.from_dict(n, s) for n, s in e["image_stats"].items()},
        changes={n: s["change"] for n, s in e["image_stats"].items()}, explanation=e["explanation"],
        model=e["model"])
    findings = tuple(Finding(f["check"], Severity[f["severity"].upper()], AlertKind(f["kind"]), f["message"],
                             f.get("column"), f.get("values") or {}) for f in d["validation"])
    alerts = tuple(AlertRecord(AlertKind(a["kind"]), Severity[a["severity"].upper()], a["subject"], a["message"])
                   for a in d["alerts"])
    return BatchResult(file=d["file"], rows=d["rows"], columns=d["columns"], status=Status[d["status"].upper()],
                       findings=findings, drift=None, alerts=alerts, seconds=d["seconds"], kind="frames",
                       embedding=embedding)


# the events -------------------------------------------------------------------------------------------------
def _retimed(obj: Any, clock: dict[float, float]) -> Any:
    """``obj`` (an Alert or an AlertEvent) with every time (``*_at`` and ``at``) moved to the recorded clock."""
    def moved(t: float) -> float:
        return next((fake for real, fake in clock.items() if real >= t), T0 + CUT)
    changes = {f.name: moved(getattr(obj, f.name)) for f in fields(obj)
               if (f.name.endswith("_at") or f.name == "at") and isinstance(getattr(obj, f.name), float)}
    if isinstance(obj, AlertEvent):
        changes["alert"] = _retimed(obj.alert, clock)
    return replace(obj, **changes)


async def table_events(root: Path, timeline: list[dict[str, Any]]) -> list[Any]:
    """The demo's table batches analysed by the engine, with the recorded times and latencies."""
    settings = Settings()
    for role, column in ROLES.items():
        setattr(settings.columns, role, column)
    baseline = build_baseline(write_reference(root / "demo_data" / "reference.csv"), "demo", settings)
    watch_dir = root / "watch_dir"
    remaining = len(timeline)
    for seed, (scenario, count) in enumerate(DEMO_PLAN):
        if remaining <= 0:
            break
        run_simulation(watch_dir, scenario=scenario, batches=min(count, remaining), rows=DEMO_ROWS, seed=seed)
        remaining -= count
    engine = Engine(watch_dir, baseline, settings, Store(root / "state"))
    published: list[Any] = []
    engine.subscribe(published.append)
    engine.store.claim()
    clock: dict[float, float] = {}  # real processing time -> recorded time
    out: list[Any] = []
    for entry, path in zip(timeline, sorted(watch_dir.glob("batch_*.csv")), strict=True):
        published.clear()
        await engine.process(str(path))
        for event in published:
            if isinstance(event, BatchEvent):
                clock[event.processed_at] = T0 + entry["at"]
                result = replace(event.result, file=f"watch_dir/{path.name}", seconds=round(event.result.seconds, 2))
                out.append(replace(event, result=result, latency=entry["latency"], processed_at=T0 + entry["at"]))
            elif isinstance(event, AlertEvent):
                out.append(event)
    engine.store.close()
    return [e if not isinstance(e, AlertEvent) else _retimed(e, clock) for e in out]


def frame_events(timeline: list[dict[str, Any]], first_id: int, stats: Any) -> list[Any]:
    """The recorded frame batches, and the alerts the alert rules make of them."""
    settings = Settings().alerts
    open_alerts: dict[tuple[str, str], Alert] = {}
    streaks: dict = {}
    out: list[Any] = []
    next_id = first_id
    for entry in timeline:
        t = T0 + entry["at"]
        result = frame_result(entry["result"])
        out.append(BatchEvent(result, None, entry["latency"], t, stats))
        j = judge(open_alerts, streaks, scope("frames", entry["name"], False), list(result.alerts), settings)
        streaks = {**{k: v for k, v in streaks.items() if k not in j.cleared}, **j.streaks}
        for key, rec, count in j.opened:
            alert = Alert(id=next_id, kind=key[0], subject=key[1], severity=rec.severity.label, message=rec.message,
                          status="open", opened_at=t, updated_at=t, resolved_at=None, acknowledged_at=None,
                          count=count, first_batch_id=None, last_batch_id=None)
            next_id += 1
            open_alerts[key] = alert
            out.append(AlertEvent("opened", alert))
        for alert, rec in j.updated:
            new = replace(alert, severity=rec.severity.label, message=rec.message, updated_at=t, count=alert.count + 1)
            open_alerts[(alert.kind, alert.subject)] = new
            out.append(AlertEvent("updated", new, previous_severity=alert.severity))
        for alert in j.resolved:
            del open_alerts[(alert.kind, alert.subject)]
            out.append(AlertEvent("resolved", replace(alert, status="resolved", resolved_at=t, updated_at=t)))
    return out


def _time_of(event: Any) -> float:
    return event.processed_at if isinstance(event, BatchEvent) else event.when


async def demo_events(root: Path, recording: dict[str, Any]) -> list[Any]:
    batches = recording["batches"]
    tables = await table_events(root, [b for b in batches if b["kind"] == "table"])
    first_id = 1 + max((e.alert.id for e in tables if isinstance(e, AlertEvent)), default=0)
    stats = next(e.stats for e in reversed(tables) if isinstance(e, BatchEvent))
    frames = frame_events([b for b in batches if b["kind"] == "frames"], first_id, stats)
    return sorted(tables + frames, key=_time_of)  # stable: a batch's alerts stay after it


async def render(out: Path, recording: dict[str, Any], size: tuple[int, int] = SIZE) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        events = await demo_events(Path(tmp), recording)
    shot_at = max(_time_of(e) for e in events) + 4  # the picture is taken a few seconds after the last batch
    app = SentinelApp(directory="watch_dir", baseline="demo", clock=lambda: shot_at)
    async with app.run_test(size=size) as pilot:
        for e in events:
            app.on_engine_event(e)
        app.refresh_widgets()
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--record"]:
        state_dir = Path(argv[1] if len(argv) > 1 else "watch_dir/.sentinel")
        record(state_dir, RECORDING)
        print(f"wrote {RECORDING}", file=sys.stderr)
        return 0
    # The same file in every environment: clock times in UTC, colours whatever NO_COLOR or Textual's settings say.
    os.environ["TZ"] = "UTC"
    time.tzset()
    for name in [n for n in os.environ if n == "NO_COLOR" or n.startswith("TEXTUAL_")]:
        del os.environ[name]
    out = Path(argv[0] if argv else "docs/screenshot.svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(render(out, json.loads(RECORDING.read_text(encoding="utf-8"))))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
