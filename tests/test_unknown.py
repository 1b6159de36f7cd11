"""UNKNOWN is exit 3 with one line naming the file and the cause: never a traceback (which monitoring reads as
exit 1, WARNING). The store is corrupted in many ways and the baseline tampered with in many more."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3

import pytest

from sentinel_tui.cli.commands import main

from .helpers import credit_batch, write


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def assert_unknown(code: int, err: str, *words: str) -> None:
    assert code == 3, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


@pytest.fixture
def watched(tmp_path, credit_dir):
    write(credit_batch(300, 1), tmp_path / "b1.csv")
    return tmp_path, ["--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines")]


def _store_with_history(directory, base, capsys):
    assert run(capsys, "watch", directory, "--once", *base)[0] == 0
    return directory / ".sentinel" / "history.sqlite3"


def garbage(db, directory):
    db.write_bytes(b"this is not a database, just bytes" * 300)


def truncated(db, directory):
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])


def a_directory(db, directory):
    db.unlink()
    db.mkdir()


def newer_schema(db, directory):
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version=99")
    con.close()


def table_dropped(db, directory):
    con = sqlite3.connect(db)
    con.execute("DROP TABLE batches")
    con.close()


def zero_page(db, directory):
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\x00" * (4096 - 100)  # the schema page's body wiped
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [garbage, truncated, a_directory, newer_schema, table_dropped, zero_page])
def test_a_damaged_store_is_unknown(watched, capsys, damage):
    directory, base = watched
    db = _store_with_history(directory, base, capsys)
    damage(db, directory)
    write(credit_batch(300, 2), directory / "b2.csv")
    code, err = run(capsys, "watch", directory, "--once", *base)
    assert_unknown(code, err, "history")


def test_a_state_dir_that_is_a_file_is_unknown(watched, capsys):
    directory, base = watched
    (directory / "state").write_text("a file, not a directory")
    code, err = run(capsys, "watch", directory, "--once", "--state-dir", directory / "state", *base)
    assert_unknown(code, err, "state")


@pytest.mark.parametrize("message", ["database or disk is full", "attempt to write a readonly database",
                                     "disk I/O error"])
def test_a_store_that_fails_on_write_is_unknown(watched, capsys, monkeypatch, message):
    from sentinel_tui.engine.store import Store

    directory, base = watched

    def fail(self, ident, **kwargs):
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(Store, "begin_file", fail)
    code, err = run(capsys, "watch", directory, "--once", *base)
    assert_unknown(code, err, message, "history.sqlite3")


def test_a_store_locked_by_another_client_is_unknown(watched, capsys):
    directory, base = watched
    db = _store_with_history(directory, base, capsys)
    write(credit_batch(300, 2), directory / "b2.csv")
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        code, err = run(capsys, "watch", directory, "--once", *base)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_unknown(code, err, "locked")
    assert run(capsys, "watch", directory, "--once", *base)[0] == 0  # and nothing was lost: b2 is processed now


# baselines ---------------------------------------------------------------------------------------------------
def _col(d, name):
    return next(c for c in d["columns"] if c["name"] == name)


TAMPERINGS = {
    "format_version as a string": lambda d: d.update(format_version="1"),
    "format_version missing": lambda d: d.pop("format_version"),
    "format_version negative": lambda d: d.update(format_version=-1),
    "format_version true": lambda d: d.update(format_version=True),
    "columns not a list": lambda d: d.update(columns={"a": 1}),
    "column not an object": lambda d: d["columns"].append("income"),
    "column name missing": lambda d: d["columns"][1].pop("name"),
    "column name a number": lambda d: d["columns"][1].update(name=7),
    "column type unknown": lambda d: _col(d, "income").update(type="complex"),
    "column role unknown": lambda d: _col(d, "income").update(role="boss"),
    "count a string": lambda d: _col(d, "income").update(count="12"),
    "nulls above count": lambda d: _col(d, "income").update(nulls=10**9),
    "count huge": lambda d: _col(d, "income").update(count=10**40),
    "mean NaN": lambda d: _col(d, "income").update(mean=math.nan),
    "mean infinite": lambda d: _col(d, "income").update(mean=math.inf),
    "std negative": lambda d: _col(d, "income").update(std=-1.0),
    "min above max": lambda d: _col(d, "income").update(min=1e9, max=0.0),
    "quantile a string": lambda d: _col(d, "income").update(quantiles={"p50": "x"}),
    "psi edges unsorted": lambda d: _col(d, "income").update(psi_edges=[3.0, 2.0, 1.0]),
    "psi proportions wrong length": lambda d: _col(d, "income").update(psi_proportions=[1.0]),
    "categories a list": lambda d: _col(d, "region").update(categories=["EU", "US"]),
    "category count negative": lambda d: _col(d, "region").update(categories={"EU": -5}),
    "nullable a string": lambda d: _col(d, "income").update(nullable="yes"),
    "duplicate column": lambda d: d["columns"].append(dict(_col(d, "income"))),
    "roles a list": lambda d: d.update(roles=["target"]),
    "role names a missing column": lambda d: d["roles"].update(target="nope"),
    "performance task unknown": lambda d: d.update(performance={**(d.get("performance") or {}), "task": "x"}),
    "performance target missing": lambda d: d.update(performance={"task": "binary", "target": "nope",
                                                                  "prediction": "pred", "labels": [],
                                                                  "metrics": {}}),
    "performance labels a string": lambda d: d.update(performance={"task": "binary", "target": "default",
                                                                   "prediction": "pred", "labels": "01",
                                                                   "metrics": {}}),
    "source a list": lambda d: d.update(source=[1, 2]),
}


@pytest.fixture
def tampered(tmp_path, credit_dir):
    target = tmp_path / "baseline"
    shutil.copytree(credit_dir / "baselines" / "credit", target)
    batch = write(credit_batch(200, 3), tmp_path / "batch.csv")
    return target, batch


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_a_tampered_baseline_is_unknown(tampered, capsys, name):
    target, batch = tampered
    data = json.loads((target / "baseline.json").read_text())
    TAMPERINGS[name](data)
    (target / "baseline.json").write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    code, err = run(capsys, "check", batch, "--baseline", target)
    assert_unknown(code, err, "baseline.json")
    if "format_version" in name and "missing" not in name:
        assert "newer" not in err  # a type problem is not a version problem


@pytest.mark.parametrize("damage", ["not json", "a list", "deeply nested", "empty", "sample missing",
                                    "sample garbage", "sample lacks a column"])
def test_a_broken_baseline_file_is_unknown(tampered, capsys, damage):
    import pyarrow.parquet as pq

    target, batch = tampered
    meta, sample = target / "baseline.json", target / "sample.parquet"
    if damage == "not json":
        meta.write_text("{ this is not json")
    elif damage == "a list":
        meta.write_text("[1, 2, 3]")
    elif damage == "deeply nested":
        meta.write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "empty":
        meta.write_text("")
    elif damage == "sample missing":
        sample.unlink()
    elif damage == "sample garbage":
        sample.write_bytes(b"PAR1 garbage")
    else:
        table = pq.read_table(sample)
        pq.write_table(table.drop_columns(["income"]), sample)
    code, err = run(capsys, "check", batch, "--baseline", target)
    assert_unknown(code, err, str(target))


def test_the_message_names_the_field(tampered, capsys):
    target, batch = tampered
    data = json.loads((target / "baseline.json").read_text())
    _col(data, "income")["count"] = "12"
    (target / "baseline.json").write_text(json.dumps(data))
    code, err = run(capsys, "check", batch, "--baseline", target)
    assert_unknown(code, err, ".count", "whole number", "'12'")


def test_watch_refuses_a_tampered_baseline_before_touching_the_store(tampered, tmp_path, capsys):
    target, batch = tampered
    data = json.loads((target / "baseline.json").read_text())
    data["format_version"] = "1"
    (target / "baseline.json").write_text(json.dumps(data))
    watch_dir = tmp_path / "w"
    watch_dir.mkdir()
    code, err = run(capsys, "watch", watch_dir, "--once", "--baseline", target)
    assert_unknown(code, err, "format_version")
    assert not (watch_dir / ".sentinel").exists()


def test_no_traceback_from_a_crash_inside_a_command(tampered, capsys, monkeypatch):
    import sentinel_tui.engine.pipeline as pipeline

    target, batch = tampered

    def boom(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "analyse_path", boom)
    code, err = run(capsys, "check", batch, "--baseline", target)
    assert_unknown(code, err, "internal error", "a bug")
