"""Render the README screenshot: the demo's drift phase, drawn by the app itself, deterministically.

    python -m sentinel_tui.tui.screenshot docs/screenshot.svg
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_file
from sentinel_tui.model import Alert, AlertEvent, BatchEvent, EngineStats, Status
from sentinel_tui.simulate.tabular import ROLES, Shift, generate, write_csv_atomic, write_reference
from sentinel_tui.tui.app import SentinelApp

T0 = 1_767_225_600.0


def demo_events(root: Path) -> list:
    settings = Settings()
    for role, column in ROLES.items():
        setattr(settings.columns, role, column)
    baseline = build_baseline(write_reference(root / "reference.csv"), "demo", settings)
    events: list = []
    rng = np.random.default_rng(0)
    for i in range(14):
        shift = Shift(covariate=min(1.0, 0.25 * (i - 8))) if i >= 9 else Shift()
        path = write_csv_atomic(generate(2000, rng, shift, start_id=i * 2000), root, f"batch_{i:05d}.csv")
        result = analyse_file(path, baseline, settings)
        critical = i >= 10
        stats = EngineStats(batches=i + 1, rows_per_second=3900.0 + 40 * (i % 5), latency_p50=0.015,
                            latency_p95=0.02, drift_share=result.drift.share, status=Status.CRITICAL if critical
                            else Status.OK, open_alerts=3 if critical else 0)
        events.append(BatchEvent(result, i + 1, 0.012 + 0.001 * (i % 4), T0 + 2 * i, stats))
    last = events[-1].result.drift.features
    for k, name in enumerate(("credit_score", "income", "score"), start=1):
        from sentinel_tui.checks.verdict import drift_message

        events.append(AlertEvent("opened", Alert(k, "drift", name, "critical", drift_message(last[name]), "open",
                                                 T0 + 20, T0 + 26, None, None, 4, 11, 14)))
    return events


async def render(out: Path, size: tuple[int, int] = (120, 34)) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        events = demo_events(Path(tmp))
    app = SentinelApp(directory="watch_dir", baseline="demo")
    async with app.run_test(size=size) as pilot:
        for e in events:
            app.on_engine_event(e)
        app.refresh_widgets()
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshot.svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(render(out))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
