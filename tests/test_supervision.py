"""Follow mode never goes silent: a failing store, a dying watcher or an odd file name is reported loudly and
recovered from, and every batch that waited is processed exactly once. Moved-in files are read at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import AlertEvent, BatchEvent

from .conftest import credit_settings
from .helpers import credit_batch, start_following, until, wait_until, write


class FlakyStore(Store):
    """Fault injection where a real fault cannot be made portably (a full disk): every transaction fails with
    SQLite's own error while ``failing`` is set."""

    failing: str | None = None

    @contextmanager
    def transaction(self):
        if self.failing:
            raise sqlite3.OperationalError(self.failing)
        with super().transaction() as db:
            yield db


def publish(directory, name: str, seed: int) -> None:
    tmp = directory / f".{name}.tmp"
    write(credit_batch(300, seed), tmp)
    tmp.rename(directory / name)


def batch_files(events) -> list[str]:
    return [e.result.file.rsplit("/", 1)[-1] for e in events if isinstance(e, BatchEvent)]


def monitor_changes(events) -> list[tuple[str, str]]:
    return [(e.change, e.alert.subject) for e in events
            if isinstance(e, AlertEvent) and e.alert.subject.startswith("(monitor")]


async def start(tmp_path, credit_baseline, store=None, **watch):
    return await start_following(tmp_path, credit_baseline, store, **watch)


async def test_a_full_disk_is_a_monitor_alert_and_the_batch_waits_for_it(tmp_path, credit_baseline):
    store = FlakyStore(tmp_path / ".sentinel")
    engine, events, stop, task = await start(tmp_path, credit_baseline, store)
    store.failing = "database or disk is full"
    publish(tmp_path, "b1.csv", 1)
    await until(lambda: ("opened", "(monitor store)") in monitor_changes(events))
    assert "disk is full" in engine.failure
    assert any(a.subject == "(monitor store)" and a.severity == "critical" for a in engine.open_alerts())
    assert batch_files(events) == []
    store.failing = None  # space freed: the waiting batch goes through, once, and the alert resolves
    await until(lambda: batch_files(events) == ["b1.csv"])
    await until(lambda: ("resolved", "(monitor store)") in monitor_changes(events))
    assert engine.failure is None
    publish(tmp_path, "b2.csv", 2)
    await until(lambda: batch_files(events) == ["b1.csv", "b2.csv"])
    stop.set()
    await asyncio.wait_for(task, 10)
    rows = store.db.execute("SELECT path, COUNT(*) FROM batches GROUP BY path").fetchall()
    assert sorted((p.rsplit("/", 1)[-1], n) for p, n in rows) == [("b1.csv", 1), ("b2.csv", 1)]
    # the incident is in the history once the store works again
    assert any(a.subject == "(monitor store)" for a in store.alert_history())


async def test_a_file_name_that_is_not_utf8_is_processed_and_the_next_batch_too(tmp_path, credit_baseline):
    engine, events, stop, task = await start(tmp_path, credit_baseline)
    name = os.fsencode(tmp_path) + b"/caf\xe9.csv"
    with open(name, "wb") as fh:
        fh.write(credit_batch(200, 1).to_csv(index=False).encode())
    await until(lambda: len(batch_files(events)) == 1)
    publish(tmp_path, "after.csv", 2)
    await until(lambda: len(batch_files(events)) == 2)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert batch_files(events) == ["caf\\xe9.csv", "after.csv"]
    assert engine.failure is None


async def test_a_watcher_that_dies_is_restarted_and_misses_nothing(tmp_path, credit_baseline):
    engine, events, stop, task = await start(tmp_path, credit_baseline, rescan_interval=3600.0)
    for emitter in list(engine.source.watcher._observer.emitters):
        emitter.stop()  # the inotify thread ends (as it does on an error inside it)
    publish(tmp_path, "while_dead.csv", 1)
    await until(lambda: batch_files(events) == ["while_dead.csv"])
    assert engine.source.restarts == 1 and engine.source.watcher.alive()
    publish(tmp_path, "after.csv", 2)
    await until(lambda: batch_files(events) == ["while_dead.csv", "after.csv"])
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_a_batch_moved_in_from_another_directory_is_ready_at_once(tmp_path, credit_baseline):
    watched, staging = tmp_path / "w", tmp_path / "staging"
    watched.mkdir()
    staging.mkdir()
    # A quiet period of an hour: only the move event can make the file ready within the test.
    engine, events, stop, task = await start(watched, credit_baseline, quiet_period=3600.0, rescan_interval=3600.0)
    write(credit_batch(10_000, 1), staging / "big.csv")
    os.replace(staging / "big.csv", watched / "big.csv")
    await until(lambda: batch_files(events) == ["big.csv"])
    stop.set()
    await asyncio.wait_for(task, 10)
    assert [e.result.rows for e in events if isinstance(e, BatchEvent)] == [10_000]


# the real process: stderr, /health and the exit status ------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def _batches(db_path) -> list[tuple]:
    try:
        con = sqlite3.connect(db_path, timeout=1)
        try:
            return con.execute("SELECT path FROM batches ORDER BY id").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


def _start_headless(directory, credit_dir, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sentinel_tui", "watch", str(directory), "--headless", "--baseline", "credit",
         "--baselines-dir", str(credit_dir / "baselines"), "--quiet-period", "0.2", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_headless_store_locked_by_another_client_is_loud_and_recovers(tmp_path, credit_dir):
    port = _free_port()
    proc = _start_headless(tmp_path, credit_dir, port)
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    db_path = tmp_path / ".sentinel" / "history.sqlite3"
    try:
        assert wait_until(lambda: _health(port)[0] == 200)
        holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another client holds the write lock far longer than the busy timeout
        try:
            publish(tmp_path, "b1.csv", 1)
            assert wait_until(lambda: _health(port)[0] == 503, timeout=60), _health(port)
            code, body = _health(port)
            assert body["monitor"] == "failing" and "locked" in body["reason"]
            assert wait_until(lambda: any("monitor FAILING" in line for line in err_lines))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert wait_until(lambda: len(_batches(db_path)) == 1, timeout=60)
        assert wait_until(lambda: _health(port)[0] == 200, timeout=30)
        publish(tmp_path, "b2.csv", 2)
        assert wait_until(lambda: len(_batches(db_path)) == 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    reader.join(timeout=5)
    assert proc.returncode == 0, err_lines
    assert [p.rsplit("/", 1)[-1] for (p,) in _batches(db_path)] == ["b1.csv", "b2.csv"]
    assert any("monitor recovered" in line for line in err_lines)
    assert not any("Traceback" in line for line in err_lines)
    assert "alert opened #-1 critical pipeline (monitor store)" in out and "alert resolved #-1" in out


def test_headless_exits_3_when_stopped_while_failing(tmp_path, credit_dir):
    port = _free_port()
    proc = _start_headless(tmp_path, credit_dir, port)
    db_path = tmp_path / ".sentinel" / "history.sqlite3"
    holder = None
    try:
        assert wait_until(lambda: _health(port)[0] == 200)
        holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        publish(tmp_path, "b1.csv", 1)
        assert wait_until(lambda: _health(port)[0] == 503, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    assert proc.returncode == 3 and "stopped while the monitor was failing" in err and "Traceback" not in err


async def test_the_dashboard_shows_a_failing_store(tmp_path, credit_baseline):
    from textual.widgets import DataTable

    from sentinel_tui.tui.app import SentinelApp
    from sentinel_tui.tui.widgets import StatusBar

    store = FlakyStore(tmp_path / ".sentinel")
    settings = credit_settings()
    settings.watch.quiet_period = 0.2
    engine = Engine(tmp_path, credit_baseline, settings, store)
    app = SentinelApp(engine, directory=str(tmp_path), baseline="credit")
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(engine.idle(), 30)
        store.failing = "database or disk is full"
        publish(tmp_path, "b1.csv", 1)
        await until(lambda: engine.failure is not None)
        table = app.query_one("#alerts", DataTable)

        def shown() -> bool:  # drawn on the next redraw tick
            subjects = [str(table.get_row_at(i)[3]) for i in range(table.row_count)]
            return "(monitor store)" in subjects and "CRITICAL" in str(app.query_one(StatusBar).render())

        await until(shown)
        store.failing = None
        await until(lambda: engine.failure is None and engine.store.batch_count() == 1)
        await pilot.press("q")
