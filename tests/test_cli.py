"""The real `sentinel` command in subprocesses: formats, exit statuses, stdout/stderr discipline."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from sentinel_tui.model import SCHEMA_VERSION
from sentinel_tui.report.json_report import report_schema

from .helpers import credit_batch, write


def sentinel(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("NO_COLOR", None) if env is None or "NO_COLOR" not in env else None
    return subprocess.run([sys.executable, "-m", "sentinel_tui", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120)


@pytest.fixture
def batches(tmp_path):
    ok = write(credit_batch(800, seed=11), tmp_path / "ok.csv")
    warn_df = credit_batch(800, seed=12).assign(new_column=1)  # one unexpected column: a warning
    warn = write(warn_df, tmp_path / "warn.csv")
    crit_df = credit_batch(800, seed=13)
    crit_df["income"] = crit_df["income"] * 2
    crit = write(crit_df, tmp_path / "crit.csv")
    return {"ok": ok, "warning": warn, "critical": crit}


def _check(credit_dir, *args, **kw):
    return sentinel("check", *map(str, args), "--baseline", "credit", "--baselines-dir",
                    str(credit_dir / "baselines"), **kw)


@pytest.mark.parametrize("which,code", [("ok", 0), ("warning", 1), ("critical", 2)])
def test_exit_status_follows_monitoring_plugin_convention(credit_dir, batches, which, code):
    proc = _check(credit_dir, batches[which])
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith(which.upper())
    assert _check(credit_dir, batches[which], "--exit-zero").returncode == 0


def test_worst_batch_decides_and_json_follows_schema(credit_dir, batches):
    proc = _check(credit_dir, batches["ok"], batches["warning"], batches["critical"], "--format", "json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)  # stdout is the report and nothing else
    jsonschema.validate(report, report_schema())
    assert report["schema_version"] == SCHEMA_VERSION and report["status"] == "critical"
    assert [b["status"] for b in report["batches"]] == ["ok", "warning", "critical"]
    income = report["batches"][2]["drift"]["features"]["income"]
    assert income["drifted"] and income["test"] == "ks" and income["severity"] == "critical"
    assert income["p_value"] < income["p_threshold"] and income["effect_size"] >= 0.3
    assert any(a["kind"] == "drift" and a["subject"] == "income" for a in report["batches"][2]["alerts"])


def test_text_is_plain_when_piped_and_markdown_renders_tables(credit_dir, batches):
    proc = _check(credit_dir, batches["critical"])
    assert "\x1b" not in proc.stdout
    assert "income" in proc.stdout and "CRITICAL" in proc.stdout and "wasserstein_norm" in proc.stdout
    md = _check(credit_dir, batches["critical"], "--format", "markdown")
    assert "| feature | type | test |" in md.stdout and "| income | numeric | ks |" in md.stdout


def _run_in_pty(args: list[str], env: dict) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sentinel_tui", *args], stdout=slave, stderr=slave,
                            env={**env, "TERM": "xterm-256color", "COLUMNS": "160"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_and_no_color_honoured(credit_dir, batches):
    args = ["check", str(batches["critical"]), "--baseline", "credit", "--baselines-dir",
            str(credit_dir / "baselines")]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    colour = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|9[0-7]|38;[0-9;]+)m")  # SGR foreground colours
    assert colour.search(_run_in_pty(args, env))
    plain = _run_in_pty(args, {**env, "NO_COLOR": "1"})
    assert not colour.search(plain) and "CRITICAL" in plain


def test_untrusted_text_is_shown_literally(credit_dir, tmp_path):
    df = credit_batch(300)
    df["[red]boom[/red]"] = "x"
    df["esc\x1b[2Jcol"] = 1
    df.loc[df.index[:100], "region"] = "\x1b]0;pwned\x07[bold]EU"
    path = write(df, tmp_path / "[blink]evil.csv")
    args = ["check", str(path), "--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines")]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    for out in (_run_in_pty(args, {**env, "NO_COLOR": "1"}), _check(credit_dir, path).stdout,
                _check(credit_dir, path, "--format", "markdown").stdout):
        assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out
        assert "\\x1b" in out  # shown, made visible
    piped = _check(credit_dir, path).stdout
    assert "[red]boom[/red]" in piped and "[blink]evil.csv" in piped
    report = json.loads(_check(credit_dir, path, "--format", "json").stdout)
    assert "esc\x1b[2Jcol" in {f["column"] for f in report["batches"][0]["validation"]}  # JSON keeps data exact


def test_baseline_create_show_list(tmp_path, credit_dir):
    bdir = tmp_path / "bl"
    proc = sentinel("baseline", "create", str(credit_dir / "reference.csv"), "--name", "credit2",
                    "--target", "default", "--prediction", "pred", "--id", "id", "--timestamp", "ts",
                    "--categorical", "accounts", "--ignore", "employment", "--baselines-dir", str(bdir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "credit2" in proc.stderr
    assert sorted(p.name for p in (bdir / "credit2").iterdir()) == ["baseline.json", "sample.parquet"]
    shown = json.loads(sentinel("baseline", "show", "credit2", "--format", "json",
                                "--baselines-dir", str(bdir)).stdout)
    cols = {c["name"]: c for c in shown["columns"]}
    assert shown["format_version"] == 1 and len(shown["source"]["sha256"]) == 64
    assert shown["source"]["rows"] == 20_000 and shown["source"]["sample_rows"] == 20_000
    assert cols["accounts"]["type"] == "categorical" and cols["employment"]["role"] == "ignored"
    assert cols["default"]["role"] == "target" and cols["ts"]["type"] == "datetime"
    assert cols["income"]["psi_edges"] and cols["income"]["quantiles"]["p50"] > 0
    text = sentinel("baseline", "show", "credit2", "--baselines-dir", str(bdir)).stdout
    assert "income" in text and "numeric" in text
    assert text.isascii(), "piped: ASCII rules and ellipses, as check's report"
    assert "credit2\t20000 rows" in sentinel("baseline", "list", "--baselines-dir", str(bdir)).stdout
    again = sentinel("baseline", "create", str(credit_dir / "reference.csv"), "--name", "credit2",
                     "--baselines-dir", str(bdir))
    assert again.returncode == 3 and "--force" in again.stderr


def test_unknown_state_exits_3(tmp_path, credit_dir, batches):
    assert _check(credit_dir, batches["ok"]).returncode == 0
    no_baseline = sentinel("check", str(batches["ok"]), "--baseline", "nope", "--baselines-dir", str(tmp_path))
    assert no_baseline.returncode == 3 and "not found" in no_baseline.stderr
    assert sentinel("check", str(batches["ok"])).returncode == 3  # --baseline missing
    assert sentinel("frobnicate").returncode == 3
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text("[drift]\nalpah = 0.01\n")
    bad_key = _check(credit_dir, batches["ok"], "--config", cfg)
    assert bad_key.returncode == 3 and "unknown key 'alpah'" in bad_key.stderr
    cfg.write_text("[drift]\nalpha = 'high'\n")
    assert _check(credit_dir, batches["ok"], "--config", cfg).returncode == 3
    cfg.write_text("[drift\n")
    assert _check(credit_dir, batches["ok"], "--config", cfg).returncode == 3
    assert "Traceback" not in bad_key.stderr


def test_newer_or_broken_baseline_is_refused(tmp_path, credit_dir, batches):
    import shutil

    bdir = tmp_path / "bl"
    shutil.copytree(credit_dir / "baselines" / "credit", bdir / "future")
    meta = json.loads((bdir / "future" / "baseline.json").read_text())
    meta["format_version"] = 99
    (bdir / "future" / "baseline.json").write_text(json.dumps(meta))
    proc = sentinel("check", str(batches["ok"]), "--baseline", "future", "--baselines-dir", str(bdir))
    assert proc.returncode == 3 and "format version 99" in proc.stderr and "upgrade" in proc.stderr
    shutil.copytree(credit_dir / "baselines" / "credit", bdir / "broken")
    (bdir / "broken" / "sample.parquet").write_bytes(b"\x80\x04\x95 not parquet, looks like a pickle")
    proc = sentinel("check", str(batches["ok"]), "--baseline", "broken", "--baselines-dir", str(bdir))
    assert proc.returncode == 3 and "sample" in proc.stderr


def test_config_file_and_flags(tmp_path, credit_dir, batches):
    cfg = tmp_path / "sentinel.toml"
    cfg.write_text("[drift]\nnumeric_effect_warning = 5.0\nnumeric_effect_critical = 9.0\n")
    # the doubled income is no longer material at an effect threshold of 5 std
    relaxed = _check(credit_dir, batches["critical"], "--config", cfg, "--format", "json")
    income = json.loads(relaxed.stdout)["batches"][0]["drift"]["features"]["income"]
    assert not income["drifted"] and income["effect_threshold"] == 5.0
    # a sentinel.toml in the working directory is picked up; flags override it
    (tmp_path / "sentinel.toml").write_text("[drift]\nalpha = 0.2\n")
    proc = sentinel("check", str(batches["ok"]), "--baseline", str(credit_dir / "baselines" / "credit"),
                    "--format", "json", "--alpha", "0.001", cwd=tmp_path)
    drift = json.loads(proc.stdout)["batches"][0]["drift"]
    assert drift["tested_count"] == 9
    # alpha is split between the dataset-level test and the features (half each by default)
    assert next(iter(drift["features"].values()))["p_threshold"] == pytest.approx(0.001 * 0.5 / 9)
    assert drift["dataset_test"]["p_threshold"] == pytest.approx(0.001 * 0.5)
