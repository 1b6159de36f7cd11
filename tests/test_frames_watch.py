"""Frame batches through the engine, the real watcher, the store, the CLI and the dashboard."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import AlertEvent, BatchEvent
from sentinel_tui.report.json_report import report_schema
from sentinel_tui.simulate.frame_batches import frame_batch, write_frame_array, write_frame_dir

from .conftest import FRAME_SIZE, credit_settings, frame_settings
from .helpers import credit_batch, until, write

pytest.importorskip("tensorflow", reason="the frames extra is not installed (make test installs it)")
pytestmark = pytest.mark.frames


def both_settings():
    s = credit_settings()
    s.frames = frame_settings().frames
    return s


def batches(events) -> list[str]:
    return [e.result.file.rsplit("/", 1)[-1] for e in events if isinstance(e, BatchEvent)]


async def wait_for(events, n: int, timeout: float = 60.0) -> list[str]:
    await until(lambda: len(batches(events)) >= n, timeout)
    return batches(events)


async def test_watcher_routes_frames_and_tables_from_one_directory(tmp_path, frames_dir):
    from sentinel_tui.baseline.snapshot import load_baseline

    baseline = load_baseline("both", frames_dir / "baselines")
    settings = both_settings()
    settings.watch.quiet_period = 0.5
    events: list = []
    engine = Engine(tmp_path, baseline, settings, Store(tmp_path / ".sentinel"))
    engine.subscribe(events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    await asyncio.wait_for(engine.idle(), 30)
    rng = np.random.default_rng(11)
    write_frame_dir(tmp_path, "renamed", frame_batch(24, rng, FRAME_SIZE))  # directory renamed into place
    assert (await wait_for(events, 1))[-1] == "renamed"
    write(credit_batch(300, 1), tmp_path / "table.csv")
    assert (await wait_for(events, 2))[-1] == "table.csv"
    # Written in place with a marker: incomplete until the marker appears, however long it takes.
    slow = tmp_path / "marked"
    slow.mkdir()
    frames = frame_batch(20, rng, FRAME_SIZE)
    from PIL import Image

    for i, f in enumerate(frames[:10]):
        Image.fromarray(f).save(slow / f"{i:03d}.png")
    await asyncio.sleep(0.2)  # the producer pauses between its writes (no marker yet)
    for i, f in enumerate(frames[10:], start=10):
        Image.fromarray(f).save(slow / f"{i:03d}.png")
    (slow / "_READY").touch()
    assert (await wait_for(events, 3))[-1] == "marked"
    # Without a marker: complete once nothing changed for the quiet period.
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    for i, f in enumerate(frame_batch(16, rng, FRAME_SIZE)):
        Image.fromarray(f).save(quiet / f"{i:03d}.jpg")
    write_frame_array(tmp_path, "array", frame_batch(16, rng, FRAME_SIZE))
    got = await wait_for(events, 5)
    await asyncio.wait_for(engine.idle(), 30)  # nothing left pending: no batch is read a second time
    stop.set()
    await asyncio.wait_for(task, 30)
    assert sorted(got[3:]) == ["array.npy", "quiet"]
    results = {e.result.file.rsplit("/", 1)[-1]: e.result for e in events if isinstance(e, BatchEvent)}
    assert len(results) == 5 == len(batches(events))  # each batch once
    assert results["marked"].rows == 20 and results["quiet"].rows == 16  # whole batches, not partial ones
    assert results["table.csv"].kind == "table" and results["marked"].kind == "frames"
    assert all(r.status.label == "ok" for r in results.values()), {k: r.status for k, r in results.items()}
    rows = engine.store.db.execute("SELECT kind, embedding_score FROM batches ORDER BY id").fetchall()
    assert [r["kind"] for r in rows] == ["frames", "table", "frames", "frames", "frames"]
    assert rows[0]["embedding_score"] is not None and rows[1]["embedding_score"] is None
    # --once afterwards: nothing is new (directories are known by their content).
    assert await engine.run_once() == []
    engine.store.close()


async def test_frame_batches_do_not_resolve_table_alerts(tmp_path, frames_dir):
    from sentinel_tui.baseline.snapshot import load_baseline

    baseline = load_baseline("both", frames_dir / "baselines")
    events: list = []
    engine = Engine(tmp_path, baseline, both_settings(), Store(tmp_path / ".sentinel"))
    engine.subscribe(events.append)
    df = credit_batch(600, 2)
    df["income"] *= 2
    await engine.process(str(write(df, tmp_path / "drift.csv")))
    rng = np.random.default_rng(5)
    for i in range(3):  # healthy frame batches say nothing about the table's features
        await engine.process(str(write_frame_array(tmp_path, f"ok{i}", frame_batch(32, rng, FRAME_SIZE))))
    open_subjects = {a.subject for a in engine.open_alerts()}
    assert "income" in open_subjects
    for i in range(2):  # dark frames: the embedding alert opens (a warning needs two batches) ...
        await engine.process(str(write_frame_array(tmp_path, f"dark{i}",
                                                   frame_batch(64, rng, FRAME_SIZE, "low_light"))))
    assert "embeddings" in {a.subject for a in engine.open_alerts()}
    for i in range(2):  # ... and healthy tables do not resolve it, healthy frames do
        await engine.process(str(write(credit_batch(600, 10 + i), tmp_path / f"ok{i}.csv")))
    assert {"embeddings"} <= {a.subject for a in engine.open_alerts()}
    assert "income" not in {a.subject for a in engine.open_alerts()}
    for i in range(2):
        await engine.process(str(write_frame_array(tmp_path, f"fine{i}", frame_batch(32, rng, FRAME_SIZE))))
    changes = [(e.change, e.alert.subject) for e in events if isinstance(e, AlertEvent)]
    assert ("resolved", "embeddings") in changes
    engine.store.close()


def test_cli_frames_end_to_end(tmp_path, monkeypatch):
    """simulate --kind frames -> baseline create --frames -> check and watch --once with a JSON report."""
    import jsonschema

    from sentinel_tui.cli.commands import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sentinel.toml").write_text(f'[frames]\ninput_size = {FRAME_SIZE}\nweights = "random"\n')
    assert main(["simulate", "w", "--kind", "frames", "--batches", "3", "--frames", "48", "--scenario", "noise",
                 "--drift-after", "1", "--reference", "ref"]) == 0
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["frames_00000", "frames_00001", "frames_00002"]
    assert main(["baseline", "create", "--frames", "ref", "--name", "cams"]) == 0
    meta = json.loads((tmp_path / "baselines" / "cams" / "baseline.json").read_text())
    assert meta["format_version"] == 2 and meta["frames"]["input_size"] == FRAME_SIZE
    assert meta["frames"]["model"]["weights"].startswith("random (seed 0, batch norm calibrated")
    assert main(["baseline", "create", "--name", "nothing"]) == 3  # neither a CSV nor --frames
    assert main(["check", "w/frames_00000", "--baseline", "cams"]) == 0
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["watch", "w", "--once", "--format", "json", "--baseline", "cams"])
    report = json.loads(out.getvalue())
    jsonschema.validate(report, report_schema())
    # Noise at full strength moves most directions of the embedding once its early layers are pooled: the
    # score reaches the critical 60% (it stayed below, a warning, when only the last layer was pooled).
    assert code == report["exit_code"] == 2 and report["status"] == "critical"
    assert all(b["embedding"]["score"] >= 0.6 for b in report["batches"][1:])
    emb = [b["embedding"] for b in report["batches"]]
    assert [e["verdict"] for e in emb] == ["PASS", "FAIL", "FAIL"]
    assert "noisier (noise +" in emb[1]["explanation"]
    assert set(emb[1]["image_stats"]) == {"brightness", "contrast", "sharpness", "noise", "colourfulness"}
    assert report["open_alerts"][0]["subject"] == "embeddings"


async def test_dashboard_shows_the_frames_panel(tmp_path, frames_dir):
    from sentinel_tui.baseline.snapshot import load_baseline
    from sentinel_tui.tui.app import SentinelApp
    from sentinel_tui.tui.widgets import TrendPanel

    baseline = load_baseline("both", frames_dir / "baselines")
    engine = Engine(tmp_path, baseline, both_settings(), Store(tmp_path / ".sentinel"))
    await engine.process(str(write(credit_batch(400, 1), tmp_path / "t.csv")))
    app = SentinelApp(engine, directory=str(tmp_path), baseline="both", follow=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tabs = app.query_one("#bottom")
        assert tabs.get_tab("tab-frames").display is False  # no frame batch yet: no Frames tab
        rng = np.random.default_rng(9)
        await engine.process(str(write_frame_array(tmp_path, "dark", frame_batch(64, rng, FRAME_SIZE, "low_light"))))
        app.refresh_widgets()
        await pilot.pause()
        assert tabs.get_tab("tab-frames").display is True
        assert app.query_one("#trend-embedding", TrendPanel).has_class("has-data")
        tabs.active = "tab-frames"
        await pilot.pause()
        text = app.query_one("#frames").render().plain
        assert "FAIL" in text and "darker (brightness -" in text and "sharpness" in text
    engine.store.close()
    # After a restart the panel and its trend come back from the store.
    again = Engine(tmp_path, baseline, both_settings(), Store(tmp_path / ".sentinel"))
    app = SentinelApp(again, directory=str(tmp_path), baseline="both", follow=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert list(app.view.embedding_trend) and app.view.frames["verdict"] == "FAIL"
        assert app.query_one("#bottom").get_tab("tab-frames").display is True
    again.store.close()
