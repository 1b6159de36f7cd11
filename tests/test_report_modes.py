"""Reports as cron, CI and monitoring systems meet them, through the real `sentinel` process: `--format plugin`
(monitoring-plugins guidelines), one line per OK batch (`--verbose` for all), no hard wrap or trailing spaces
when piped, a reader that goes away (`| head -1`), lines that end where they should, and `sentinel alerts`
exiting by its alerts' status in every format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentinel_tui.simulate.tabular import ROLES, generate

from .helpers import credit_batch, write

# One perfdata entry: label=value[UOM];[warn];[crit];[min];[max] (trailing empty fields may be dropped). A label
# is quoted when it holds a space; it never holds a quote, '=' or '|'.
LABEL = r"(?:'[^'=|\"]+'|[^ '=|\"]+)"
PERF = LABEL + r"=(?:-?[0-9]+(?:\.[0-9]+)?|U)(?:s|%|B|c)?(?:;[-0-9.:~@]*){0,4}"
STATUS_LINE = re.compile(r"^SENTINEL (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (" + PERF + r"(?: " + PERF
                         + r")*))?$")
EXIT = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def run(*args: str, env: dict | None = None, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=None):
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    return subprocess.run([sys.executable, "-m", "sentinel_tui", *map(str, args)], stdout=stdout, stderr=stderr,
                          text=True, env={**full, **(env or {})}, timeout=120, cwd=cwd)


def check(credit_dir: Path, *args, **kw):
    return run("check", *args, "--baseline", "credit", "--baselines-dir", credit_dir / "baselines", **kw)


def watch_once(directory: Path, credit_dir: Path, *args, **kw):
    return run("watch", directory, "--baseline", "credit", "--baselines-dir", credit_dir / "baselines", "--once",
               *args, **kw)


def plugin(stdout: str) -> tuple[str, str, dict[str, list[str]], list[str]]:
    """(status, summary, perfdata label -> fields, long-output lines) of a plugin output, checked against the
    guidelines' grammar on the way."""
    assert stdout.endswith("\n")
    first, *details = stdout[:-1].split("\n")
    m = STATUS_LINE.match(first)
    assert m, f"not a plugin status line: {first!r}"
    perf: dict[str, list[str]] = {}
    for token in re.findall(PERF, m.group(3) or ""):
        name, fields = token[1:].split("'=", 1) if token.startswith("'") else token.split("=", 1)
        assert name not in perf, f"duplicate label {name}"
        perf[name] = fields.split(";")
    for line in details:
        assert "|" not in line and "\x1b" not in line, line  # a '|' in the long output would start perfdata
    return m.group(1), m.group(2), perf, details


def value(fields: list[str]) -> float:
    return float(re.sub(r"[a-zA-Z%]+$", "", fields[0]))


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("modes")
    out = {f"ok{i}": write(credit_batch(800, seed=20 + i), root / f"ok{i}.csv") for i in range(3)}
    out["warning"] = write(credit_batch(800, seed=30).assign(new_column=1), root / "warning.csv")
    df = credit_batch(800, seed=31)
    df["income"] *= 2
    out["critical"] = write(df, root / "critical.csv")
    return out


# --format plugin -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which,status", [("ok0", "OK"), ("warning", "WARNING"), ("critical", "CRITICAL")])
def test_check_plugin_status_line_perfdata_and_exit_status(credit_dir, batches, which, status):
    proc = check(credit_dir, batches[which], "--format", "plugin")
    assert proc.returncode == EXIT[status], proc.stderr
    got, summary, perf, details = plugin(proc.stdout)
    assert got == status
    report = json.loads(check(credit_dir, batches[which], "--format", "json").stdout)["batches"][0]
    drift = report["drift"]
    assert value(perf["drift_share"]) == pytest.approx(drift["share"], abs=1e-6)
    assert perf["drift_share"][1:] == ["", "", "0", "1"] and perf["batches"] == ["1", "", "", "0"]
    assert value(perf["drifted_features"]) == drift["drifted_count"]
    assert perf["drifted_features"][4] == str(drift["tested_count"])
    assert value(perf["effect income"]) == pytest.approx(drift["features"]["income"]["effect_size"], abs=1e-6)
    assert value(perf["accuracy"]) == pytest.approx(report["performance"]["metrics"]["accuracy"], abs=1e-6)
    assert details[0].startswith(f"{status:<8} {batches[which]}: 800 rows")
    if status == "CRITICAL":
        assert summary.startswith("1 batch (1 critical): drift income")
        assert any(line.startswith("  CRITICAL drift income: 'income' drifted") for line in details)
        assert list(perf)[:6] == ["batches", "warning_batches", "critical_batches", "drift_share",
                                  "drifted_features", "accuracy"]
        assert list(perf)[6] == "effect income"  # the drifted feature first
    elif status == "WARNING":
        assert summary.startswith("1 batch (1 warning): schema new_column") and value(perf["warning_batches"]) == 1
    else:
        assert summary == "1 batch ok" and len(details) == 1
    assert check(credit_dir, batches[which], "--format", "plugin", "--exit-zero").returncode == 0


def test_check_plugin_over_several_batches_takes_the_worst(credit_dir, batches):
    proc = check(credit_dir, batches["ok0"], batches["warning"], batches["critical"], "--format", "plugin")
    assert proc.returncode == 2
    status, summary, perf, details = plugin(proc.stdout)
    assert status == "CRITICAL" and summary.startswith("3 batches (1 critical, 1 warning): drift income; schema "
                                                       "new_column")
    assert [value(perf[k]) for k in ("batches", "warning_batches", "critical_batches")] == [3, 1, 1]
    shares = [b["drift"]["share"] for b in json.loads(check(
        credit_dir, batches["ok0"], batches["warning"], batches["critical"], "--format", "json").stdout)["batches"]]
    assert value(perf["drift_share"]) == pytest.approx(max(shares), abs=1e-6)
    assert [line.split()[0] for line in details if not line.startswith("  ")] == ["OK", "WARNING", "CRITICAL"]


def test_plugin_labels_and_text_from_hostile_column_names(tmp_path):
    """Column names become perfdata labels and status text: no quote, '=', '|' or control character gets
    through, labels are bounded, and a clash after sanitising gets its own label."""
    names = {"income": "in|come = it's \"x\"", "credit_score": "score " + "z" * 200,
             "age": "esc\x1b[31mage", "debt_ratio": "debt'ratio", "accounts": "debt=ratio"}
    generate(4000, np.random.default_rng(5), extra_features=25).rename(columns=names).to_csv(tmp_path / "ref.csv",
                                                                                           index=False)
    roles = [f"--{role}={column}" for role, column in ROLES.items()]
    made = run("baseline", "create", tmp_path / "ref.csv", "--name", "h", *roles, "--baselines-dir", tmp_path / "bl")
    assert made.returncode == 0, made.stderr
    df = generate(1000, np.random.default_rng(6), extra_features=25)
    df["income"] *= 3
    df["credit_score"] -= 150
    df["debt_ratio"] += 0.3
    df["accounts"] += 5
    df["age"] += 15  # drifted, so its name is in the output whatever the order of the quiet features
    for k in range(8):  # drift in 8 more features: 13 drift alerts, more than the status line names
        df[f"x{k:03d}"] += 5
    write(df.rename(columns=names), tmp_path / "b|atch.csv")
    proc = run("check", tmp_path / "b|atch.csv", "--baseline", "h", "--baselines-dir", tmp_path / "bl",
               "--format", "plugin")
    assert proc.returncode == 2, proc.stderr
    status, summary, perf, details = plugin(proc.stdout)  # the grammar holds
    first = proc.stdout.split("\n", 1)[0]
    assert first.count("|") == 1 and "\x1b" not in proc.stdout
    assert "in\u00a6come = it's \"x\"" in summary  # text keeps the name, '|' made harmless
    assert "\\x1b[31mage" in proc.stdout  # control characters shown, not sent
    labels = [k for k in perf if k.startswith("effect ")]
    assert "effect in_come _ it_s _x_" in labels
    assert all(len(k) <= 48 for k in perf) and any(k.startswith("effect score zzz") for k in labels)
    assert {"effect debt_ratio", "effect debt_ratio~2"} <= set(labels)  # debt'ratio and debt=ratio
    assert any("b\u00a6atch.csv" in line for line in details)
    drift = re.search(r"(?:: |; )drift ([^;]*) \(\+7 more\)(?:;|$)", summary)
    assert drift and len(drift.group(1).split(", ")) == 6, summary  # 6 of the 13 drifted features named
    assert "score " + "z" * 33 + "\u2026" in summary and "z" * 34 not in summary  # names cut to 40 characters
    assert len(labels) == 20 and {f"effect x{k:03d}" for k in range(8)} <= set(labels)  # drifted ones kept
    assert len(first.encode()) < 1400


def test_watch_once_plugin_reads_the_open_alerts(tmp_path, credit_dir):
    for i in range(2):
        write(credit_batch(400, 40 + i), tmp_path / f"b{i}.csv")
    df = credit_batch(400, 42)
    df["income"] *= 3
    write(df, tmp_path / "b2.csv")
    first = watch_once(tmp_path, credit_dir, "--format", "plugin")
    assert first.returncode == 2, first.stderr
    status, summary, perf, details = plugin(first.stdout)
    assert status == "CRITICAL" and re.match(r"\d+ open alerts?: drift income", summary), summary
    assert summary.endswith(", 3 new batches")
    report = json.loads(watch_once(tmp_path, credit_dir, "--format", "json").stdout)  # nothing new: the same state
    assert value(perf["open_alerts"]) == len(report["open_alerts"]) and perf["open_alerts"][1:] == ["", "", "0"]
    assert value(perf["critical_alerts"]) == sum(a["severity"] == "critical" for a in report["open_alerts"])
    assert value(perf["new_batches"]) == 3 and perf["batches"] == ["3c"]
    assert value(perf["drift_share"]) == pytest.approx(report["stats"]["drift_share"], abs=1e-6)
    assert perf["drift_share"][1:] == ["", "", "0", "1"]
    assert any(re.match(r"CRITICAL #\d+ drift income: 'income' drifted", line) for line in details)
    assert details[-1].startswith(f"latest batch {tmp_path / 'b2.csv'}: critical at ")

    again = watch_once(tmp_path, credit_dir, "--format", "plugin")
    assert again.returncode == 2
    status, summary, perf, details = plugin(again.stdout)
    assert status == "CRITICAL" and summary.endswith(", no new batches") and value(perf["new_batches"]) == 0
    assert f"no new batches in {tmp_path}" in details

    viewer = run("alerts", tmp_path, "--format", "plugin")  # a running monitor's state, from its store
    assert viewer.returncode == 2
    status, summary, perf, _ = plugin(viewer.stdout)
    assert status == "CRITICAL"
    assert summary == plugin(again.stdout)[1].removesuffix(", no new batches") and "new_batches" not in perf


def test_plugin_failures_are_unknown_on_stdout(tmp_path, credit_dir, batches):
    missing = run("check", batches["ok0"], "--baseline", "nope", "--baselines-dir", tmp_path, "--format", "plugin")
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
    status, summary, _, _ = plugin(missing.stdout)
    assert status == "UNKNOWN" and "nope" in summary and "not found" in missing.stderr
    follow = run("watch", tmp_path, "--baseline", "credit", "--baselines-dir", credit_dir / "baselines",
                 "--headless", "--format", "plugin")
    assert follow.returncode == 3 and plugin(follow.stdout)[0] == "UNKNOWN" and "--once" in follow.stdout


# text: one line per OK batch -------------------------------------------------------------------------------
def feature_tables(out: str) -> int:
    return sum(1 for line in out.splitlines() if re.match(r"feature +\| type +\| test +\|", line))


def test_check_text_one_line_per_ok_batch_and_verbose_for_all(credit_dir, batches):
    files = [batches["ok0"], batches["ok1"], batches["critical"], batches["ok2"]]
    proc = check(credit_dir, *files)
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    for name in ("ok0", "ok1", "ok2"):
        mine = [i for i, line in enumerate(lines) if str(batches[name]) in line]
        assert len(mine) == 1 and lines[mine[0]].startswith(f"OK       {batches[name]}  800 rows, drift 0/")
        assert ", accuracy 0." in lines[mine[0]]  # model quality in the same line
        following = lines[mine[0] + 1] if mine[0] + 1 < len(lines) else ""
        assert not following.startswith(("  performance", "feature ", "---")), following
    assert feature_tables(proc.stdout) == 1  # the critical batch's only
    start = next(i for i, line in enumerate(lines) if line.startswith(f"CRITICAL {batches['critical']}"))
    assert lines[start - 1] == "" and lines[start + 1].startswith(("  PERFORMANCE", "  performance"))
    assert lines[-1].startswith("CRITICAL  4 batches against baseline credit: 3 ok")
    verbose = check(credit_dir, *files, "--verbose")
    assert verbose.returncode == 2 and feature_tables(verbose.stdout) == 4
    assert sum(line.startswith(("  performance", "  PERFORMANCE")) for line in verbose.stdout.splitlines()) == 4


def test_watch_once_text_one_line_per_ok_batch(tmp_path, credit_dir, batches):
    import shutil

    for name in ("ok0", "ok1", "critical"):
        shutil.copy(batches[name], tmp_path / f"{name}.csv")
    proc = watch_once(tmp_path, credit_dir)
    assert proc.returncode == 2, proc.stderr
    assert feature_tables(proc.stdout) == 1
    assert sum(line.startswith("OK       ") for line in proc.stdout.splitlines()) == 2
    assert "open alerts" in proc.stdout and proc.stdout.rstrip("\n").splitlines()[-1].startswith("CRITICAL  ")
    (tmp_path / ".sentinel").rename(tmp_path / "old-state")
    verbose = watch_once(tmp_path, credit_dir, "--verbose")
    assert verbose.returncode == 2 and feature_tables(verbose.stdout) == 3


# piped text: no hard wrap, no trailing spaces --------------------------------------------------------------
def test_piped_text_is_not_wrapped_and_has_no_trailing_spaces(tmp_path, credit_dir):
    long_name = "unexpected_" + "w" * 230
    path = write(credit_batch(500, 50).assign(**{long_name: 1}), tmp_path / "wide.csv")
    for env in ({}, {"COLUMNS": "80"}):
        proc = check(credit_dir, path, "--verbose", env=env)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stdout.split("\n")
        assert lines[-1] == ""  # ends with a newline
        assert not [line for line in lines if line != line.rstrip()], "trailing spaces"
        finding = [line for line in lines if "unexpected_column" in line]
        assert len(finding) == 1 and f"column '{long_name}' is not in the baseline" in finding[0]
        assert max(map(len, lines)) > 250  # one line, as long as its content: not cut at 80 or 160


# a reader that goes away -----------------------------------------------------------------------------------
def closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run with stdout a pipe nobody reads (its read end closed): every write fails with EPIPE, as under
    `| head -1` once head has exited."""
    read, write_end = os.pipe()
    os.close(read)
    try:
        return run(*args, stdout=write_end)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "plugin"])
@pytest.mark.parametrize("which,code", [("ok0", 0), ("critical", 2)])
def test_broken_pipe_exits_quietly_with_the_checks_status(credit_dir, batches, fmt, which, code):
    proc = closed_pipe("check", str(batches[which]), "--baseline", "credit", "--baselines-dir",
                       str(credit_dir / "baselines"), "--format", fmt)
    assert proc.returncode == code and proc.stderr == ""


def test_head_1_in_a_shell_pipeline(credit_dir, batches):
    files = " ".join(str(batches[n]) for n in ("ok0", "ok1", "ok2", "warning", "critical") for _ in range(12))
    script = (f"set -o pipefail; {sys.executable} -m sentinel_tui check {files} --baseline credit "
              f"--baselines-dir {credit_dir / 'baselines'} --verbose | head -1")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "NO_COLOR"})
    assert proc.returncode == 2 and proc.stderr == ""
    assert proc.stdout.startswith(f"OK       {batches['ok0']}") and proc.stdout.count("\n") == 1


def test_watch_once_and_alerts_on_a_broken_pipe(tmp_path, credit_dir, batches):
    import shutil

    shutil.copy(batches["critical"], tmp_path / "c.csv")
    base = ["--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines")]
    for fmt in ("text", "plugin", "json"):
        proc = closed_pipe("watch", str(tmp_path), *base, "--once", "--format", fmt)
        assert proc.returncode == 2 and proc.stderr == "", (fmt, proc.stderr)
        listed = closed_pipe("alerts", str(tmp_path), "--format", fmt)
        assert listed.returncode == 2 and listed.stderr == "", (fmt, listed.stderr)


# every line ends where it should ---------------------------------------------------------------------------
def test_lines_end_where_they_should_with_both_streams_in_one_log(tmp_path, credit_dir):
    empty = tmp_path / "W"
    empty.mkdir()
    proc = watch_once(empty, credit_dir, stderr=subprocess.STDOUT)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [f"no new batches in {empty}", "OK  0 open alerts"]
    assert proc.stdout.endswith("\n")
    assert watch_once(empty, credit_dir).stdout == proc.stdout  # the report says it (stdout), in its order
    plugin_out = watch_once(empty, credit_dir, "--format", "plugin", stderr=subprocess.STDOUT)
    status, summary, _, details = plugin(plugin_out.stdout)
    assert status == "OK" and summary == "0 open alerts, no new batches"
    assert details == [f"no new batches in {empty}"]


# sentinel alerts: the same exit status in every format -----------------------------------------------------
def test_alerts_exit_status_is_the_alerts_status_in_every_format(tmp_path, credit_dir):
    def statuses() -> set[tuple[str, int]]:
        out = set()
        for fmt in ("text", "json", "plugin"):
            out.add(("code", closed_pipe("alerts", str(tmp_path), "--format", fmt).returncode))  # `| head -1`
            proc = run("alerts", tmp_path, "--format", fmt)
            out.add(("code", proc.returncode))
            if fmt == "json":
                doc = json.loads(proc.stdout)
                out.add(("code", doc["exit_code"]))
                assert doc["status"] == {0: "ok", 1: "warning", 2: "critical"}[proc.returncode]
            elif fmt == "text":
                out.add(("code", EXIT[proc.stdout.split()[0]]))
            else:
                out.add(("code", EXIT[plugin(proc.stdout)[0]]))
        return out

    write(credit_batch(300, 60), tmp_path / "a.csv")
    assert watch_once(tmp_path, credit_dir).returncode == 0
    assert statuses() == {("code", 0)}
    for i in range(2):  # an unexpected column twice: a warning alert
        write(credit_batch(300, 61 + i).assign(new_column=1), tmp_path / f"w{i}.csv")
    assert watch_once(tmp_path, credit_dir).returncode == 1
    assert statuses() == {("code", 1)}
    df = credit_batch(300, 70)
    df["income"] *= 3
    write(df, tmp_path / "c.csv")
    assert watch_once(tmp_path, credit_dir).returncode == 2
    assert statuses() == {("code", 2)}
