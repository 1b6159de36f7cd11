"""Alerts you can trust: one incident is one alert, judged only on new evidence, and data that could not be read
stays an open incident. Real files, the real SQLite store, the real engine."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from sentinel_tui.cli.commands import main
from sentinel_tui.config import AlertSettings
from sentinel_tui.engine.alertbook import judge, scope
from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import Alert, AlertEvent, BatchEvent
from sentinel_tui.model import AlertKind, AlertRecord, Severity
from sentinel_tui.simulate.tabular import Shift, generate

from .conftest import credit_settings
from .helpers import credit_batch, write


def concept(i: int, bad: bool, rows: int = 500) -> pd.DataFrame:
    return generate(rows, np.random.default_rng(900 + i), Shift(concept=1.0 if bad else 0.0), start_id=i * rows)


def make(directory, baseline, settings=None) -> tuple[Engine, list]:
    events: list = []
    engine = Engine(directory, baseline, settings or credit_settings(), Store(directory / ".sentinel"))
    engine.subscribe(events.append)
    return engine, events


def changes(events, kind=None) -> list[tuple[str, str, str]]:
    return [(e.change, e.alert.kind, e.alert.subject) for e in events
            if isinstance(e, AlertEvent) and (kind is None or e.alert.kind == kind)]


def open_keys(engine) -> list[tuple[str, str]]:
    return sorted((a.kind, a.subject) for a in engine.open_alerts())


# the alert book on its own ------------------------------------------------------------------------------------
def _alert(kind: str, subject: str) -> Alert:
    return Alert(id=1, kind=kind, subject=subject, severity="critical", message="m", status="open", opened_at=0,
                 updated_at=0, resolved_at=None, acknowledged_at=None, count=1, first_batch_id=1, last_batch_id=1)


def test_the_book_ignores_records_and_alerts_outside_the_scope():
    accuracy = ("performance", "accuracy")
    rec = AlertRecord(AlertKind.PERFORMANCE, Severity.CRITICAL, "accuracy", "worse")
    # a frame batch (no new labels) carrying a performance record: neither opens nor updates
    j = judge({}, {}, scope("frames", "f1", new_labels=False), [rec], AlertSettings())
    assert j.opened == [] and j.updated == [] and j.streaks == {}
    j = judge({accuracy: _alert(*accuracy)}, {accuracy: (1, 0)}, scope("table", "b.csv", new_labels=False), [],
              AlertSettings())
    assert j.resolved == [] and j.streaks == {} and j.cleared == []  # no evidence: no clean observation either
    j = judge({accuracy: _alert(*accuracy)}, {accuracy: (1, 0)}, scope("table", "b.csv", new_labels=True), [],
              AlertSettings())
    assert j.streaks == {accuracy: (0, 1)} and j.resolved == []  # new labels, clean: counts towards resolving


def test_the_book_judges_a_file_alert_only_by_its_own_path():
    key = ("pipeline", "bad.csv")
    book = {key: _alert(*key)}
    for _ in range(5):  # any number of healthy batches of other files
        assert judge(book, {}, scope("table", "other.csv", False), [], AlertSettings()).resolved == []
    assert judge(book, {}, scope("table", "bad.csv", False), [], AlertSettings()).resolved == [book[key]]


# 2: performance without an id column -------------------------------------------------------------------------
async def test_inline_labels_feed_the_window_without_an_id_column(tmp_path, noid_baseline):
    assert noid_baseline.roles.get("id") is None
    engine, events = make(tmp_path, noid_baseline)
    for i in range(12):
        write(concept(i, bad=i >= 6), tmp_path / f"b{i:02d}.csv")
        await engine.process(str(tmp_path / f"b{i:02d}.csv"))
        if i == 5:
            assert engine.window is not None and engine.window.status == "ok"
            assert changes(events, "performance") == []
    opened = [c for c in changes(events, "performance") if c[0] == "opened"]
    assert opened, "the concept change opened no performance alert"
    assert len(opened) == len({c[2] for c in opened})  # one per metric
    alert = next(a for a in engine.open_alerts() if a.kind == "performance")
    assert "worst segment: region=EU" in alert.message
    assert engine.window.status == "degraded"


def test_once_without_ids_exits_with_the_performance_alert(tmp_path, credit_dir, noid_baseline, capsys):
    for i in range(8):
        write(concept(i, bad=i >= 3), tmp_path / f"b{i:02d}.csv")
    code = main(["watch", str(tmp_path), "--once", "--format", "json", "--baseline", "noid",
                 "--baselines-dir", str(credit_dir / "baselines")])
    report = json.loads(capsys.readouterr().out)
    kinds = {a["kind"] for a in report["open_alerts"]}
    assert "performance" in kinds and code in (1, 2) and report["status"] != "ok"
    assert report["performance"]["status"] == "degraded"


# 3: one incident, one alert ------------------------------------------------------------------------------------
@pytest.mark.frames
async def test_frame_batches_never_touch_a_table_alert(tmp_path, frames_dir):
    from sentinel_tui.baseline.snapshot import load_baseline
    from sentinel_tui.simulate.frame_batches import frame_batch, write_frame_array

    from .conftest import FRAME_SIZE, frame_settings

    both = load_baseline("both", frames_dir / "baselines")
    settings = credit_settings()
    settings.frames = frame_settings().frames
    engine, events = make(tmp_path, both, settings)
    for i in range(6):
        write(concept(i, bad=i >= 1), tmp_path / f"b{i}.csv")
        await engine.process(str(tmp_path / f"b{i}.csv"))
    perf_open = [k for k in open_keys(engine) if k[0] == "performance"]
    assert perf_open, "setup: the concept change must have opened a performance alert"
    before = {a.id: a.count for a in engine.open_alerts()}
    for i in range(3):
        path = write_frame_array(tmp_path, f"cam{i}", frame_batch(64, np.random.default_rng(40 + i), FRAME_SIZE))
        event = await engine.process(str(path))
        assert isinstance(event, BatchEvent) and event.result.kind == "frames"
    keys = open_keys(engine)
    assert len(keys) == len(set(keys)), f"duplicate open alerts: {keys}"
    table_alerts = {a.id: a.count for a in engine.open_alerts() if a.kind != "embedding"}
    assert table_alerts == {k: v for k, v in before.items() if k in table_alerts}  # not updated by frames
    opened = [c for c in changes(events) if c[0] == "opened"]
    assert len(opened) == len(set(opened)), "an incident was opened twice"


def test_the_store_refuses_a_second_open_alert_for_one_key(tmp_path):
    store = Store(tmp_path)
    row = ("performance", "accuracy", "critical", "m", "open", 1.0, 1.0, 1)
    sql = "INSERT INTO alerts (kind, subject, severity, message, status, opened_at, updated_at, count) VALUES " \
          "(?, ?, ?, ?, ?, ?, ?, ?)"
    with store.transaction() as db:
        db.execute(sql, row)
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
        db.execute(sql, row)
    store.close()


def test_migration_keeps_one_of_the_duplicates_an_older_release_opened(tmp_path):
    from sentinel_tui.engine.store_schema import MIGRATIONS, split_sql

    db = sqlite3.connect(tmp_path / "history.sqlite3")
    for version, script in enumerate(MIGRATIONS[:3]):
        for statement in split_sql(script):
            db.execute(statement)
        db.execute(f"PRAGMA user_version={version + 1}")
    for i in range(4):
        db.execute("INSERT INTO alerts (kind, subject, severity, message, status, opened_at, updated_at, count) "
                   "VALUES ('performance', 'accuracy', 'critical', 'm', 'open', ?, ?, 1)", (i, i))
    db.commit()
    db.close()
    store = Store(tmp_path)
    assert [(a.kind, a.subject, a.id) for a in store.open_alerts()] == [("performance", "accuracy", 1)]
    store.close()


# 4: late labels: judged on new evidence only ---------------------------------------------------------------
async def test_a_batch_without_labels_is_no_observation_of_model_quality(tmp_path, credit_baseline):
    engine, events = make(tmp_path, credit_baseline)
    frames = [concept(i, bad=True, rows=500) for i in range(3)]
    for i, df in enumerate(frames):  # degraded, inline labels: the alert opens
        write(df, tmp_path / f"b{i}.csv")
        await engine.process(str(tmp_path / f"b{i}.csv"))
    assert ("performance", "accuracy") in open_keys(engine)
    # predictions whose labels come later, then good labels for all of them (the window turns OK: one clean)
    late = pd.concat([concept(10 + i, bad=False, rows=500) for i in range(2)], ignore_index=True)
    late["id"] = [f"late-{k}" for k in range(len(late))]
    write(late.drop(columns=["default"]), tmp_path / "late.csv")
    await engine.process(str(tmp_path / "late.csv"))
    write(late[["id", "default"]], tmp_path / "late.labels.csv")
    await engine.process(str(tmp_path / "late.labels.csv"))
    assert engine.window.status == "ok"
    assert ("performance", "accuracy") in open_keys(engine)  # one clean observation of two
    # unrelated batches without labels: no new evidence, the alert must stay as it is
    for i in range(3):
        write(credit_batch(300, 50 + i).drop(columns=["default"]), tmp_path / f"u{i}.csv")
        await engine.process(str(tmp_path / f"u{i}.csv"))
    assert ("performance", "accuracy") in open_keys(engine)
    assert ("resolved", "performance", "accuracy") not in changes(events)
    # a second file of good labels is the second clean observation
    more = concept(30, bad=False, rows=500)
    more["id"] = [f"more-{k}" for k in range(len(more))]
    write(more.drop(columns=["default"]), tmp_path / "more.csv")
    await engine.process(str(tmp_path / "more.csv"))
    write(more[["id", "default"]], tmp_path / "more.labels.csv")
    await engine.process(str(tmp_path / "more.labels.csv"))
    assert ("resolved", "performance", "accuracy") in changes(events)
    assert engine.window.status == "ok" and ("performance", "accuracy") not in open_keys(engine)


async def test_a_replayed_label_file_is_no_new_evidence(tmp_path, credit_baseline):
    engine, events = make(tmp_path, credit_baseline)
    df = concept(0, bad=True, rows=600)
    write(df.drop(columns=["default"]), tmp_path / "b.csv")
    await engine.process(str(tmp_path / "b.csv"))
    write(df[["id", "default"]], tmp_path / "a.labels.csv")
    await engine.process(str(tmp_path / "a.labels.csv"))
    after_first = (engine.store.book(engine.store.db), changes(events))
    assert any(k[0] == "performance" for k in after_first[0][1]) or after_first[1]  # the labels were judged
    write(df[["id", "default"]], tmp_path / "again.labels.csv")  # the same labels under another name
    await engine.process(str(tmp_path / "again.labels.csv"))
    assert (engine.store.book(engine.store.db), changes(events)) == after_first


# 5: unreadable data stays visible --------------------------------------------------------------------------
async def test_an_unreadable_file_stays_open_until_fixed_removed_or_acknowledged(tmp_path, credit_baseline):
    engine, events = make(tmp_path, credit_baseline)
    (tmp_path / "bad.csv").write_bytes(b"\x00\xff" * 100)
    await engine.process(str(tmp_path / "bad.csv"))
    for i in range(4):  # healthy batches of other files say nothing about bad.csv
        await engine.process(str(write(credit_batch(400, i), tmp_path / f"ok{i}.csv")))
    assert ("pipeline", "bad.csv") in open_keys(engine)
    # fixed: the same path with content that reads
    write(credit_batch(400, 9), tmp_path / "bad.csv")
    await engine.process(str(tmp_path / "bad.csv"))
    assert ("pipeline", "bad.csv") not in open_keys(engine)
    # removed
    (tmp_path / "gone.csv").write_bytes(b"\x00" * 10)
    await engine.process(str(tmp_path / "gone.csv"))
    assert ("pipeline", "gone.csv") in open_keys(engine)
    (tmp_path / "gone.csv").unlink()
    engine.resolve_missing_files()
    assert ("pipeline", "gone.csv") not in open_keys(engine)
    # acknowledged: closed (nothing else would ever close it while the file stays)
    (tmp_path / "stays.csv").write_text("a,b\n1,2\n3")
    await engine.process(str(tmp_path / "stays.csv"))
    alert = next(a for a in engine.open_alerts() if a.subject == "stays.csv")
    engine.acknowledge(alert.id)
    assert ("pipeline", "stays.csv") not in open_keys(engine)
    assert engine.store.alert(alert.id).acknowledged_at is not None


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_once_exits_critical_while_an_unreadable_batch_is_open(tmp_path, credit_dir, capsys):
    base = ["--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines")]
    (tmp_path / "a_binary.csv").write_bytes(b"\x00\x01\x02" * 100)
    for i in range(2):
        write(credit_batch(400, i), tmp_path / f"b{i}.csv")
    code, out, _ = run_cli(capsys, "watch", str(tmp_path), "--once", *base)
    assert code == 2 and "a_binary.csv" in out
    code, out, _ = run_cli(capsys, "watch", str(tmp_path), "--once", *base)  # nothing new: still open
    assert code == 2
    code, out, _ = run_cli(capsys, "alerts", str(tmp_path), "--format", "json")
    doc = json.loads(out)
    assert code == 2 and doc["status"] == "critical"
    (bad,) = [a for a in doc["open_alerts"] if a["subject"] == "a_binary.csv"]
    code, out, _ = run_cli(capsys, "alerts", str(tmp_path), "ack", str(bad["id"]))
    assert code == 0 and f"#{bad['id']}" in out
    code, out, _ = run_cli(capsys, "watch", str(tmp_path), "--once", *base)
    assert code == 0
    code, out, err = run_cli(capsys, "alerts", str(tmp_path), "ack", "999")
    assert code == 3 and "no such alert" in err
    code, out, _ = run_cli(capsys, "alerts", str(tmp_path), "--all")
    assert code == 0 and "a_binary.csv" in out and "resolved" in out


def test_an_unreadable_label_file_is_an_incident(tmp_path, credit_dir, capsys):
    base = ["--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines")]
    write(credit_batch(300, 1), tmp_path / "b.csv")
    (tmp_path / "x.labels.csv").write_text("nothing,useful\n1,2\n")
    code, out, _ = run_cli(capsys, "watch", str(tmp_path), "--once", "--format", "json", *base)
    report = json.loads(out)
    assert code == 2 and any(a["subject"] == "x.labels.csv" for a in report["open_alerts"])


async def test_batches_that_were_not_checked_resolve_nothing(tmp_path, credit_baseline):
    from .test_engine import drifted

    engine, events = make(tmp_path, credit_baseline)
    await engine.process(str(write(drifted(1), tmp_path / "d.csv")))
    assert ("drift", "income") in open_keys(engine)
    for i in range(3):  # unreadable files and an ignored FIFO say nothing about income
        (tmp_path / f"bad{i}.csv").write_bytes(b"\x00" * 50)
        await engine.process(str(tmp_path / f"bad{i}.csv"))
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    await engine.process(str(tmp_path / "pipe.csv"))
    assert ("drift", "income") in open_keys(engine)
    assert ("resolved", "drift", "income") not in changes(events)


async def test_file_alerts_open_at_once_whatever_the_settings_and_any_name(tmp_path, credit_baseline):
    settings = credit_settings()
    settings.alerts.open_after_critical = 3  # a file's content is read once: its incident cannot wait for 3
    engine, _ = make(tmp_path, credit_baseline, settings)
    (tmp_path / "(2024).csv").write_bytes(b"\x00" * 50)
    await engine.process(str(tmp_path / "(2024).csv"))
    assert ("pipeline", "(2024).csv") in open_keys(engine)
    for i in range(3):  # a name in parentheses is still a file: other batches do not resolve it
        await engine.process(str(write(credit_batch(300, i), tmp_path / f"ok{i}.csv")))
    assert ("pipeline", "(2024).csv") in open_keys(engine)


async def test_a_value_sqlite_refuses_is_the_batch_failure_not_the_store(tmp_path, credit_baseline, monkeypatch):
    import sqlite3

    from sentinel_tui.engine.store import Store as StoreClass

    engine, events = make(tmp_path, credit_baseline)
    real = StoreClass.insert_batch
    calls = {"n": 0}

    def refuse_once(self, db, file_id, result, *a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.DataError("string or blob too big")
        return real(self, db, file_id, result, *a, **k)

    monkeypatch.setattr(StoreClass, "insert_batch", refuse_once)
    first = await engine.process_supervised(str(write(credit_batch(300, 1), tmp_path / "a.csv")))
    assert first is not None and "string or blob too big" in first.result.findings[0].message
    assert engine.failure is None  # not a monitor fault: no retry loop, no 503
    second = await engine.process_supervised(str(write(credit_batch(300, 2), tmp_path / "b.csv")))
    assert second is not None and second.result.rows == 300
