"""`sentinel watch` as a real process: --once in cron, --headless follow mode, and crash recovery."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

from .helpers import credit_batch, wait_until, write


def watch(directory, credit_dir, *args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "sentinel_tui", "watch", str(directory), "--baseline", "credit",
                           "--baselines-dir", str(credit_dir / "baselines"), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, **kw)


def start_watch(directory, credit_dir, *args, env=None):
    return subprocess.Popen([sys.executable, "-m", "sentinel_tui", "watch", str(directory), "--baseline", "credit",
                             "--baselines-dir", str(credit_dir / "baselines"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def test_once_is_idempotent_and_exits_by_open_alerts(tmp_path, credit_dir):
    write(credit_batch(400, 1), tmp_path / "b1.csv")
    assert watch(tmp_path, credit_dir, "--once").returncode == 0
    df = credit_batch(400, 2)
    df["income"] *= 3
    write(df, tmp_path / "b2.csv")
    first = watch(tmp_path, credit_dir, "--once", "--format", "json")
    assert first.returncode == 2, first.stderr
    report = json.loads(first.stdout)
    assert report["mode"] == "watch" and report["status"] == "critical"
    assert [b["file"].rsplit("/", 1)[-1] for b in report["batches"]] == ["b2.csv"]
    assert any(a["subject"] == "income" for a in report["open_alerts"])
    second = watch(tmp_path, credit_dir, "--once", "--format", "json")
    assert second.returncode == 2
    again = json.loads(second.stdout)
    assert again["batches"] == [] and again["open_alerts"] == report["open_alerts"]
    text = watch(tmp_path, credit_dir, "--once")
    assert text.returncode == 2 and "income" in text.stdout and "open alert" in text.stdout
    assert watch(tmp_path, credit_dir, "--once", "--exit-zero").returncode == 0
    assert (tmp_path / ".sentinel" / "history.sqlite3").exists()


def test_dashboard_mode_needs_a_terminal(tmp_path, credit_dir):
    proc = watch(tmp_path, credit_dir)
    assert proc.returncode == 3 and "--headless" in proc.stderr


def _db_rows(state_dir, sql):
    db_path = state_dir / "history.sqlite3"
    if not db_path.exists():
        return []
    db = sqlite3.connect(db_path, timeout=5)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def test_kill_9_mid_analysis_then_restart_processes_it_exactly_once(tmp_path, credit_dir):
    watched, state = tmp_path / "in", tmp_path / "state"
    watched.mkdir()
    write(credit_batch(300, 1), watched / "victim.csv")
    # The analysis is made slow inside the child process itself (no test hook in the product).
    slow = ("import sys, time; import sentinel_tui.engine.monitor as e; real = e.analyse_path; "
            "e.analyse_path = lambda *a, **k: (time.sleep(60), real(*a, **k))[1]; "
            "from sentinel_tui.cli.commands import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", slow, "watch", str(watched), "--baseline", "credit",
                             "--baselines-dir", str(credit_dir / "baselines"), "--headless", "--state-dir", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: _db_rows(state, "SELECT status FROM files") == [("processing",)])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert _db_rows(state, "SELECT COUNT(*) FROM batches") == [(0,)]
    done = watch(watched, credit_dir, "--once", "--state-dir", str(state), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [b["file"].rsplit("/", 1)[-1] for b in json.loads(done.stdout)["batches"]] == ["victim.csv"]
    assert _db_rows(state, "SELECT path, status FROM files") == [(str(watched / "victim.csv"), "done")]
    assert _db_rows(state, "SELECT COUNT(*) FROM batches") == [(1,)]
    assert json.loads(watch(watched, credit_dir, "--once", "--state-dir", str(state),
                            "--format", "json").stdout)["batches"] == []


def _watching(proc) -> list[str]:
    """Read stderr up to the "watching" line (the monitor sees new files from then on); returns its lines."""
    lines = []
    for line in iter(proc.stderr.readline, ""):
        lines.append(line)
        if line.startswith("sentinel: watching "):
            break
    return lines


def test_headless_jsonl_lines_and_clean_sigterm(tmp_path, credit_dir):
    proc = start_watch(tmp_path, credit_dir, "--headless", "--format", "jsonl", "--quiet-period", "0.2")
    try:
        assert _watching(proc)[-1].startswith("sentinel: watching ")
        for i in range(3):
            df = credit_batch(300, i)
            if i == 1:
                df["income"] *= 3
            tmp = tmp_path / f".b{i}.tmp"
            write(df, tmp)
            tmp.rename(tmp_path / f"b{i}.csv")
        (tmp_path / "bad.csv").write_bytes(b"\x00\xff" * 50)
        # SIGTERM lets the batch in progress finish and publish its lines before the process exits.
        assert wait_until(lambda: _db_rows(tmp_path / ".sentinel", "SELECT COUNT(*) FROM batches") == [(4,)])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    batches = [x for x in lines if x["event"] == "batch"]
    assert [b["file"].rsplit("/", 1)[-1] for b in batches] == ["b0.csv", "b1.csv", "b2.csv", "bad.csv"]
    assert batches[1]["status"] == "critical" and "income" in batches[1]["drifted"]
    alerts = [(x["change"], x["kind"], x["subject"]) for x in lines if x["event"] == "alert"]
    assert ("opened", "drift", "income") in alerts and ("opened", "pipeline", "bad.csv") in alerts
    assert "Traceback" not in err


def test_headless_text_escapes_untrusted_names(tmp_path, credit_dir):
    for i in range(2):  # an unexpected column is a warning: it opens an alert the second time
        write(credit_batch(200, i).assign(**{"\x1b[31mred": 1}), tmp_path / f"x{i}.csv")
    proc = start_watch(tmp_path, credit_dir, "--headless")
    try:
        assert wait_until(lambda: _db_rows(tmp_path / ".sentinel", "SELECT COUNT(*) FROM batches") == [(2,)])
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "batch " in out and "alert opened" in out
    assert "\x1b" not in out and "\\x1b[31mred" in out
