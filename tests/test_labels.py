"""Watch-mode performance: the rolling window, late labels, the change point and the broken segment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import AlertEvent, BatchEvent, LabelsEvent
from sentinel_tui.simulate.tabular import Shift, generate

from .conftest import credit_settings


def frame(i: int, rows: int = 500, concept: bool = False) -> pd.DataFrame:
    return generate(rows, np.random.default_rng(500 + i), Shift(concept=1.0 if concept else 0.0), start_id=i * rows)


def make(tmp_path, baseline, **perf):
    settings = credit_settings()
    for k, v in perf.items():
        setattr(settings.performance, k, v)
    events: list = []
    engine = Engine(tmp_path, baseline, settings, Store(tmp_path / ".sentinel"))
    engine.subscribe(events.append)
    return engine, events


def perf_alerts(events, change="opened"):
    return [e.alert for e in events if isinstance(e, AlertEvent) and e.alert.kind == "performance"
            and e.change == change]


async def test_concept_drift_opens_an_alert_with_its_start_and_segment(tmp_path, credit_baseline):
    engine, events = make(tmp_path, credit_baseline)
    for i in range(12):
        df = frame(i, concept=i >= 6)
        df.to_csv(tmp_path / f"b{i:02d}.csv", index=False)
        await engine.process(str(tmp_path / f"b{i:02d}.csv"))
        if i == 5:
            assert perf_alerts(events) == []  # six healthy batches: quiet
            assert engine.window.status == "ok" and engine.window.labelled_rows == 1000
    opened = perf_alerts(events)
    assert opened, "no performance alert after the concept change"
    batch_events = [e for e in events if isinstance(e, BatchEvent)]
    first_bad = next(i for i, e in enumerate(batch_events) if e.performance and e.performance.status == "degraded")
    assert 6 <= first_bad <= 8  # within 3 batches of the change
    window = engine.window
    assert window.segments and window.segments[0]["segment"] == "region=EU"
    assert window.change_point is not None and 6 <= window.change_point["batch_id"] <= 8
    assert "since batch" in window.message and "worst segment: region=EU" in window.message


async def test_late_labels_give_the_same_metrics_as_inline_labels(tmp_path, credit_baseline):
    inline_dir, late_dir = tmp_path / "inline", tmp_path / "late"
    inline_dir.mkdir()
    late_dir.mkdir()
    inline, _ = make(inline_dir, credit_baseline)
    late, late_events = make(late_dir, credit_baseline)
    frames = [frame(i, concept=i >= 3) for i in range(6)]
    for i, df in enumerate(frames):
        df.to_csv(inline_dir / f"b{i}.csv", index=False)
        await inline.process(str(inline_dir / f"b{i}.csv"))
        df.drop(columns=["default"]).to_csv(late_dir / f"b{i}.csv", index=False)
        await late.process(str(late_dir / f"b{i}.csv"))
        if i >= 2:  # labels arrive two batches later
            labels = frames[i - 2][["id", "default"]]
            labels.to_csv(late_dir / f"b{i - 2}.labels.csv", index=False)
            await late.process(str(late_dir / f"b{i - 2}.labels.csv"))
    for i in (4, 5):
        frames[i][["id", "default"]].to_csv(late_dir / f"b{i}.labels.csv", index=False)
        await late.process(str(late_dir / f"b{i}.labels.csv"))
    assert late.window.labelled_rows == inline.window.labelled_rows == 1000
    assert late.window.metrics == inline.window.metrics
    labels_events = [e for e in late_events if isinstance(e, LabelsEvent)]
    assert len(labels_events) == 6 and all(e.matched == 500 and e.unmatched == 0 for e in labels_events)


async def test_unknown_and_pruned_labels_are_counted(tmp_path, credit_baseline):
    engine, events = make(tmp_path, credit_baseline, label_horizon_hours=1e-9)
    frame(0).drop(columns=["default"]).to_csv(tmp_path / "b0.csv", index=False)
    await engine.process(str(tmp_path / "b0.csv"))
    frame(1).drop(columns=["default"]).to_csv(tmp_path / "b1.csv", index=False)
    await engine.process(str(tmp_path / "b1.csv"))  # prunes b0's predictions: past the horizon
    labels = pd.concat([frame(0)[["id", "default"]].head(10), frame(1)[["id", "default"]].head(20),
                        pd.DataFrame({"id": ["nobody-1", "nobody-2"], "default": [0, 1]})])
    labels.to_csv(tmp_path / "x.labels.csv", index=False)
    await engine.process(str(tmp_path / "x.labels.csv"))
    (event,) = [e for e in events if isinstance(e, LabelsEvent)]
    assert (event.rows, event.matched, event.unmatched) == (32, 20, 12)
    (tmp_path / "bad.labels.csv").write_text("who,what\n1,2\n")
    await engine.process(str(tmp_path / "bad.labels.csv"))
    bad = [e for e in events if isinstance(e, LabelsEvent)][-1]
    assert bad.reason and "needs the id and the target" in bad.reason


@pytest.mark.slow
async def test_no_window_alert_on_healthy_stream(tmp_path, credit_baseline):
    engine, events = make(tmp_path, credit_baseline)
    for i in range(40):
        frame(i).to_csv(tmp_path / "b.csv", index=False)
        await engine.process(str(tmp_path / "b.csv"))
    assert perf_alerts(events) == []
    assert all(e.performance.status == "ok" for e in events if isinstance(e, BatchEvent))


async def test_window_by_batches(tmp_path, credit_baseline):
    engine, _ = make(tmp_path, credit_baseline, window_batches=3)
    for i in range(5):
        frame(i, rows=300).to_csv(tmp_path / f"b{i}.csv", index=False)
        await engine.process(str(tmp_path / f"b{i}.csv"))
    assert engine.window.labelled_rows == 900  # the last 3 batches of 300 rows


async def test_the_store_stays_bounded(tmp_path, credit_baseline, monkeypatch):
    import sentinel_tui.performance.window as labels_module

    monkeypatch.setattr(labels_module, "CHANGE_ROWS", 1000)
    engine, _ = make(tmp_path, credit_baseline, max_pending_predictions=800)
    for i in range(8):  # inline labels: 4,000 labelled rows
        frame(i).to_csv(tmp_path / f"b{i}.csv", index=False)
        await engine.process(str(tmp_path / f"b{i}.csv"))
    for i in range(8, 12):  # no labels: 2,000 predictions waiting
        frame(i).drop(columns=["default"]).to_csv(tmp_path / f"b{i}.csv", index=False)
        await engine.process(str(tmp_path / f"b{i}.csv"))
    db = engine.store.db
    labelled = db.execute("SELECT COUNT(*) FROM predictions WHERE label IS NOT NULL").fetchone()[0]
    pending = db.execute("SELECT COUNT(*) FROM predictions WHERE label IS NULL").fetchone()[0]
    # bounded by the limit plus one batch (rows of one batch share a time and are kept or dropped together)
    assert 1000 <= labelled <= 1500 and 800 <= pending <= 1300
    assert engine.window.labelled_rows == 1000  # the window is intact
