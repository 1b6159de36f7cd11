"""The engine with real files, the real SQLite store and real alert rules (no watcher: deterministic)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3

import pytest

from sentinel_tui.config import Settings
from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import SCHEMA_VERSION, Store, StoreError
from sentinel_tui.events import AlertEvent, BatchEvent
from sentinel_tui.model import Status

from .conftest import credit_settings
from .helpers import credit_batch, until, write


def drifted(seed: int, rows: int = 600):
    df = credit_batch(rows, seed)
    df["income"] *= 2
    return df


def make_engine(directory, baseline, settings: Settings | None = None) -> tuple[Engine, list]:
    events: list = []
    engine = Engine(directory, baseline, settings or credit_settings(), Store(directory / ".sentinel"))
    engine.subscribe(events.append)
    return engine, events


def alert_changes(events, kind=None):
    return [(e.change, e.alert.kind, e.alert.subject) for e in events if isinstance(e, AlertEvent)
            and (kind is None or e.alert.kind == kind)]


async def test_alert_life_cycle_open_update_resolve(tmp_path, credit_baseline):
    engine, events = make_engine(tmp_path, credit_baseline)
    # healthy, drift x3, healthy x2: the critical drift alert opens at once, is updated (not re-raised),
    # and resolves after two clean batches
    frames = [credit_batch(600, 1), drifted(2), drifted(3), drifted(4), credit_batch(600, 5),
              credit_batch(600, 6)]
    for i, df in enumerate(frames):
        event = await engine.process(str(write(df, tmp_path / f"b{i}.csv")))
        assert isinstance(event, BatchEvent)
        if i == 2:
            assert event.stats.status == Status.CRITICAL and event.stats.open_alerts >= 1
    changes = [c for c in alert_changes(events) if c[2] == "income"]
    assert changes == [("opened", "drift", "income"), ("updated", "drift", "income"),
                       ("updated", "drift", "income"), ("resolved", "drift", "income")]
    (alert,) = [e.alert for e in events if isinstance(e, AlertEvent) and e.change == "resolved"
                and e.alert.subject == "income"]
    assert alert.count == 3 and alert.status == "resolved"
    assert engine.stats().status == Status.OK and engine.open_alerts() == []


async def test_warnings_must_repeat_before_an_alert_opens(tmp_path, credit_baseline):
    engine, events = make_engine(tmp_path, credit_baseline)
    warn = credit_batch(600, 1).assign(extra=1)  # an unexpected column: a warning
    await engine.process(str(write(warn, tmp_path / "w1.csv")))
    assert alert_changes(events) == []
    await engine.process(str(write(credit_batch(600, 2).assign(extra=1), tmp_path / "w2.csv")))
    assert alert_changes(events) == [("opened", "schema", "extra")]
    assert engine.stats().status == Status.WARNING


async def test_same_content_is_skipped_new_content_is_a_new_batch(tmp_path, credit_baseline):
    engine, events = make_engine(tmp_path, credit_baseline)
    path = write(credit_batch(300, 1), tmp_path / "same.csv")
    assert await engine.process(str(path)) is not None
    assert await engine.process(str(path)) is None  # same path, same content
    write(credit_batch(300, 2), path)  # same path, other content: a new batch (a name reused)
    assert await engine.process(str(path)) is not None
    assert engine.store.batch_count() == 2
    with path.open("a") as fh:  # the same file grown in place: replaces its earlier result
        fh.write(credit_batch(100, 3).to_csv(index=False, header=False))
    event = await engine.process(str(path))
    assert event is not None and event.result.rows == 400
    assert engine.store.batch_count() == 2
    assert [b.rows for b in engine.view.batches] == [300, 400]
    assert engine.scan() == []  # nothing new: no rehashing needed either


async def test_run_once_oldest_first_and_idempotent(tmp_path, credit_baseline):
    import os

    names = ["c.csv", "a.csv", "b.csv"]
    for i, name in enumerate(names):
        p = write(credit_batch(200, i), tmp_path / name)
        os.utime(p, (1_700_000_000 + i, 1_700_000_000 + i))
    (tmp_path / ".hidden.csv").write_text("x")
    (tmp_path / "partial.csv.tmp").write_text("x")
    engine, _ = make_engine(tmp_path, credit_baseline)
    events = await engine.run_once()
    assert [e.result.file.rsplit("/", 1)[-1] for e in events] == names  # by mtime, not by name
    assert await engine.run_once() == []


async def test_history_survives_a_restart(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    for i in range(3):
        await engine.process(str(write(drifted(i), tmp_path / f"d{i}.csv")))
    before = engine.stats()
    trend = list(engine.view.feature_trends["income"])
    engine.store.close()
    again, _ = make_engine(tmp_path, credit_baseline)
    after = again.stats()
    assert after.batches == before.batches == 3
    assert after.status == Status.CRITICAL and after.open_alerts == before.open_alerts
    assert list(again.view.feature_trends["income"]) == pytest.approx(trend)
    assert [b.file for b in again.view.batches] == [b.file for b in engine.view.batches]
    # streaks continue: two clean batches after the restart resolve the drift alert
    for i in range(2):
        await again.process(str(write(credit_batch(600, 10 + i), tmp_path / f"ok{i}.csv")))
    assert not [a for a in again.open_alerts() if a.subject == "income"]


async def test_bad_files_become_pipeline_alerts_and_good_ones_still_run(tmp_path, credit_baseline):
    good = [write(credit_batch(300, i), tmp_path / f"good{i}.csv") for i in range(3)]
    (tmp_path / "binary.csv").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "truncated.csv").write_text("age,income\n1,2\n3")
    schema = credit_batch(300, 9).drop(columns=["age"])
    write(schema, tmp_path / "schema.csv")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.glob("*.csv")}
    engine, events = make_engine(tmp_path, credit_baseline)
    done = await engine.run_once()
    by_name = {e.result.file.rsplit("/", 1)[-1]: e.result for e in done}
    assert set(by_name) == {p.name for p in good} | {"binary.csv", "empty.csv", "truncated.csv", "schema.csv"}
    for p in good:
        assert by_name[p.name].drift is not None and by_name[p.name].drift.tested_count == 9
    opened = alert_changes(events)
    for name in ("binary.csv", "empty.csv", "truncated.csv"):
        assert ("opened", "pipeline", name) in opened
    assert ("opened", "schema", "age") in opened
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.glob("*.csv")} == digests


async def test_acknowledge_and_pause(tmp_path, credit_baseline):
    engine, events = make_engine(tmp_path, credit_baseline)
    await engine.process(str(write(drifted(1), tmp_path / "d.csv")))
    alert = next(a for a in engine.open_alerts() if a.subject == "income")
    engine.acknowledge(alert.id)
    assert engine.store.alert(alert.id).status == "acknowledged"
    assert ("acknowledged", "drift", "income") in alert_changes(events)
    engine.pause()
    assert engine.paused
    engine.resume()
    assert not engine.paused


def test_store_schema_is_versioned(tmp_path):
    store = Store(tmp_path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer Sentinel"):
        Store(tmp_path)


async def test_a_failing_subscriber_does_not_stop_the_engine(tmp_path, credit_baseline, capsys):
    engine, events = make_engine(tmp_path, credit_baseline)

    def broken(event):
        raise RuntimeError("boom")

    engine.subscribe(broken)
    await engine.process(str(write(credit_batch(200, 1), tmp_path / "a.csv")))
    await engine.process(str(write(credit_batch(200, 2), tmp_path / "b.csv")))
    assert len([e for e in events if isinstance(e, BatchEvent)]) == 2
    assert "boom" in capsys.readouterr().err


async def test_follow_mode_with_the_real_watcher(tmp_path, credit_baseline):
    """Atomic renames, a slowly written file, ignored temp files, and a file present before start."""
    write(credit_batch(200, 0), tmp_path / "before.csv")
    settings = credit_settings()
    settings.watch.quiet_period = 0.3
    engine, events = make_engine(tmp_path, credit_baseline, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))

    def files() -> list[str]:
        return [e.result.file.rsplit("/", 1)[-1] for e in events if isinstance(e, BatchEvent)]

    async def wait_for(n: int) -> list[str]:
        await until(lambda: len(files()) >= n)
        return files()

    assert await wait_for(1) == ["before.csv"]
    tmp = tmp_path / ".incoming.csv.tmp"
    write(credit_batch(200, 1), tmp)
    tmp.rename(tmp_path / "renamed.csv")
    assert (await wait_for(2))[1] == "renamed.csv"
    text = credit_batch(400, 2).to_csv(index=False)
    slow = tmp_path / "slow.csv"
    with slow.open("w") as fh:  # written in pieces with pauses shorter than the quiet period
        for k in range(4):
            fh.write(text[k * len(text) // 4:(k + 1) * len(text) // 4])
            fh.flush()
            await asyncio.sleep(0.1)
    (tmp_path / "ignored.csv.part").write_text("a,b\n1,2\n")
    got = await wait_for(3)
    await asyncio.wait_for(engine.idle(), 10)  # nothing more pending: slow.csv is not read a second time
    stop.set()
    await asyncio.wait_for(task, 10)
    batches = [e for e in events if isinstance(e, BatchEvent)]
    assert [b.result.file.rsplit("/", 1)[-1] for b in batches] == ["before.csv", "renamed.csv", "slow.csv"]
    assert got[2] == "slow.csv" and batches[2].result.rows == 400  # read whole, once
    assert all(b.latency is not None for b in batches)


async def test_rescan_catches_files_whose_events_were_lost(tmp_path, credit_baseline, monkeypatch):
    import sentinel_tui.engine.watcher as watcher_module

    class DeafWatcher:  # an observer that lost every event (inotify overflow, NFS)
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            pass

        def stop(self):
            pass

    monkeypatch.setattr(watcher_module, "DirectoryWatcher", DeafWatcher)
    settings = credit_settings()
    settings.watch.quiet_period, settings.watch.rescan_interval = 0.2, 0.2
    engine, events = make_engine(tmp_path, credit_baseline, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    await asyncio.wait_for(engine.idle(), 10)
    write(credit_batch(200, 1), tmp_path / "unseen.csv")
    await until(lambda: any(isinstance(e, BatchEvent) for e in events))
    done = engine.source.rescans
    await until(lambda: engine.source.rescans >= done + 3)  # more rescans: it must not be processed twice
    stop.set()
    await asyncio.wait_for(task, 10)
    assert [e.result.file for e in events if isinstance(e, BatchEvent)] == [str(tmp_path / "unseen.csv")]
