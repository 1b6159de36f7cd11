"""A watched directory can hold anything: FIFOs, devices, links to secrets, odd names, deep trees, compressed
and very wide files, broken quoting, nonsense configuration. Real files and directories, real processes."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import json
import lzma
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sentinel_tui.cli.commands import main
from sentinel_tui.events import BatchEvent

from .helpers import credit_batch, start_following, until, write

SECRET = "TOPSECRET-7f3a9c-DO-NOT-LEAK"


def once(directory, credit_dir, *extra, timeout=120):
    return subprocess.run([sys.executable, "-m", "sentinel_tui", "watch", str(directory), "--once", "--format",
                           "json", "--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines"),
                           *extra], capture_output=True, text=True, timeout=timeout)


def names(report) -> list[str]:
    return [b["file"].rsplit("/", 1)[-1] for b in report["batches"]]


def test_fifos_devices_and_sockets_are_reported_once_never_opened(tmp_path, credit_dir):
    import socket

    os.mkfifo(tmp_path / "pipe.csv")
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.csv"))
    write(credit_batch(300, 1), tmp_path / "good.csv")
    try:
        first = once(tmp_path, credit_dir)  # would block for ever in open() or hash /dev/zero without end
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        by_name = {b["file"].rsplit("/", 1)[-1]: b for b in report["batches"]}
        assert set(by_name) == {"pipe.csv", "zero.csv", "sock.csv", "good.csv"}
        assert by_name["good.csv"]["rows"] == 300
        for name in ("pipe.csv", "zero.csv", "sock.csv"):
            (finding,) = by_name[name]["validation"]
            assert finding["severity"] == "info" and "ignored" in finding["message"], finding
        assert "FIFO" in by_name["pipe.csv"]["validation"][0]["message"]
        again = once(tmp_path, credit_dir)  # one-time: not reported again
        assert again.returncode == 0 and json.loads(again.stdout)["batches"] == []
    finally:
        sock.close()


async def test_follow_mode_is_not_stopped_by_a_fifo(tmp_path, credit_baseline):
    engine, events, stop, task = await start_following(tmp_path, credit_baseline)
    os.mkfifo(tmp_path / "x.csv")
    os.symlink("/dev/zero", tmp_path / "z.csv")
    tmp = tmp_path / ".b.tmp"
    write(credit_batch(300, 2), tmp)
    tmp.rename(tmp_path / "after.csv")
    await until(lambda: sum(isinstance(e, BatchEvent) for e in events) == 3)
    stop.set()
    await asyncio.wait_for(task, 10)  # and it stops when asked
    files = sorted(e.result.file.rsplit("/", 1)[-1] for e in events if isinstance(e, BatchEvent))
    assert files == ["after.csv", "x.csv", "z.csv"]


def _everything_written(directory, state, out: str, err: str) -> str:
    """Every byte Sentinel wrote: reports, the store (dumped), the action log and the JSON-lines action file."""
    parts = [out, err]
    con = sqlite3.connect(state / "history.sqlite3")
    parts.extend(con.iterdump())
    con.close()
    for f in state.iterdir():
        if f.is_file() and f.suffix in (".log", ".jsonl"):
            parts.append(f.read_text(errors="replace"))
    return "\n".join(parts)


def test_a_link_to_a_secret_outside_leaks_nothing(tmp_path, credit_dir):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = credit_batch(200, 3)
    secret["region"] = SECRET  # a value that would surface as an unseen category in reports and alerts
    write(secret, outside / "secret.csv")
    watched = tmp_path / "w"
    watched.mkdir()
    os.symlink(outside / "secret.csv", watched / "x.csv")
    os.symlink(outside, watched / "frames_dir")
    write(credit_batch(300, 1), watched / "good.csv")
    config = tmp_path / "sentinel.toml"
    config.write_text('[[actions]]\nname = "log"\ntype = "jsonl"\npath = "alerts.jsonl"\non = ["opened", '
                      '"updated", "resolved", "acknowledged"]\n')
    for follow in ("false", "true"):  # following is allowed only inside the watched directory
        if follow == "true":
            config.write_text(config.read_text() + "[watch]\nfollow_symlinks = true\n")
        state = tmp_path / f"state-{follow}"
        run = once(watched, credit_dir, "--state-dir", str(state), "--config", str(config))
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert set(names(report)) == {"x.csv", "good.csv"}
        (x,) = [b for b in report["batches"] if b["file"].endswith("x.csv")]
        assert x["rows"] == 0 and "symbolic link" in x["validation"][0]["message"]
        assert SECRET not in _everything_written(watched, state, run.stdout, run.stderr)


def test_a_link_inside_the_watched_directory_is_followed_when_allowed(tmp_path, credit_dir):
    watched = tmp_path / "w"
    (watched / "archive").mkdir(parents=True)
    write(credit_batch(250, 4), watched / "archive" / "real.csv.part")  # not a batch name itself
    os.symlink(watched / "archive" / "real.csv.part", watched / "linked.csv")
    config = tmp_path / "sentinel.toml"
    config.write_text("[watch]\nfollow_symlinks = true\n")
    run = once(watched, credit_dir, "--config", str(config))
    assert run.returncode == 0, run.stderr
    (batch,) = json.loads(run.stdout)["batches"]
    assert batch["file"].endswith("linked.csv") and batch["rows"] == 250


def test_file_names_that_are_not_utf8(tmp_path, credit_dir, capsys):
    raw = os.fsencode(tmp_path)
    for name, seed in ((b"bad\xff.csv", 1), (b"caf\xe9 \x1b[31m.csv", 2)):
        with open(raw + b"/" + name, "wb") as fh:
            fh.write(credit_batch(200, seed).to_csv(index=False).encode())
    write(credit_batch(200, 3), tmp_path / "plain.csv")
    run = once(tmp_path, credit_dir)
    assert run.returncode == 0, run.stderr
    assert sorted(names(json.loads(run.stdout))) == ["bad\\xff.csv", "caf\\xe9 \x1b[31m.csv", "plain.csv"]
    text = subprocess.run([sys.executable, "-m", "sentinel_tui", "watch", str(tmp_path), "--once", "--baseline",
                           "credit", "--baselines-dir", str(credit_dir / "baselines"), "--state-dir",
                           str(tmp_path / "s2")], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "bad\\xff.csv" in text.stdout and "\x1b" not in text.stdout
    # check, given such a name among others, reports them all
    code = main(["check", os.fsdecode(raw + b"/bad\xff.csv"), str(tmp_path / "plain.csv"), "--format", "json",
                 "--baseline", "credit", "--baselines-dir", str(credit_dir / "baselines")])
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and [b["file"].rsplit("/", 1)[-1] for b in report["batches"]] == ["bad\\xff.csv",
                                                                                             "plain.csv"]


def test_a_deep_tree_does_not_stop_the_watcher(tmp_path, credit_dir):
    watched = tmp_path / "w"
    deep = watched / "tree"
    deep.mkdir(parents=True)
    here = os.open(deep, os.O_RDONLY)
    try:
        for _ in range(2500):  # relative mkdir/open: the full path would pass PATH_MAX
            os.mkdir("d", dir_fd=here)
            nxt = os.open("d", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = nxt
    finally:
        os.close(here)
    proc = subprocess.Popen([sys.executable, "-m", "sentinel_tui", "watch", str(watched), "--headless",
                             "--format", "jsonl", "--baseline", "credit", "--baselines-dir",
                             str(credit_dir / "baselines"), "--quiet-period", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from .helpers import wait_until

        db = watched / ".sentinel" / "history.sqlite3"
        assert wait_until(lambda: db.exists())
        tmp = watched / ".b.tmp"
        write(credit_batch(300, 1), tmp)
        tmp.rename(watched / "b.csv")

        def processed() -> bool:
            try:
                con = sqlite3.connect(db, timeout=1)
                try:
                    return con.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 1
                finally:
                    con.close()
            except sqlite3.Error:
                return False

        assert wait_until(processed)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    subprocess.run(["rm", "-rf", str(deep)], check=True)  # iterative, unlike shutil's clean-up of tmp_path
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "RecursionError" not in err and "polling" not in err


@pytest.mark.parametrize("codec", ["gz", "bz2", "xz", "zst"])
def test_compressed_batches_are_read(tmp_path, credit_dir, codec):
    data = credit_batch(400, 5).to_csv(index=False).encode()
    path = tmp_path / f"b.csv.{codec}"
    if codec == "zst":
        with pa.output_stream(str(path), compression="zstd") as out:
            out.write(data)
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[codec](data))
    run = once(tmp_path, credit_dir)
    assert run.returncode == 0, run.stderr
    (batch,) = json.loads(run.stdout)["batches"]
    assert batch["rows"] == 400 and batch["status"] == "ok"


def test_a_compressed_reference_makes_the_same_baseline(tmp_path, capsys):
    df = credit_batch(3000, 11)
    df.to_csv(tmp_path / "ref.csv", index=False)
    (tmp_path / "ref.csv.gz").write_bytes(gzip.compress((tmp_path / "ref.csv").read_bytes()))
    base = ["--baselines-dir", str(tmp_path / "b")]
    for name, ref in (("plain", "ref.csv"), ("gz", "ref.csv.gz")):
        assert main(["baseline", "create", str(tmp_path / ref), "--name", name, *base]) == 0
    capsys.readouterr()
    profiles = []
    for name in ("plain", "gz"):
        main(["baseline", "show", name, "--format", "json", *base])
        profiles.append(json.loads(capsys.readouterr().out)["columns"])
    assert profiles[0] == profiles[1]


def test_a_compression_bomb_is_refused_without_inflating_it(tmp_path, credit_dir):
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=6) as fh:  # 200 MB of rows, a few hundred kB on disk
        fh.write(b"age,income\n")
        block = b"1,2\n" * 250_000
        for _ in range(200):
            fh.write(block)
    assert bomb.stat().st_size < 2_000_000
    run = once(tmp_path, credit_dir, "--max-file-mb", "20")
    assert run.returncode == 2, run.stderr
    (batch,) = json.loads(run.stdout)["batches"]
    assert "inflates past the 20 MB size cap" in batch["validation"][0]["message"]


@pytest.mark.slow
def test_headers_of_twenty_thousand_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    cols = [f"feature_{i:05d}" for i in range(20_000)]
    pd.DataFrame(rng.normal(size=(60, 20_000)), columns=cols).to_csv(tmp_path / "ref.csv", index=False)
    pd.DataFrame(rng.normal(size=(30, 20_000)), columns=cols).to_csv(tmp_path / "batch.csv", index=False)
    base = ["--baselines-dir", str(tmp_path / "baselines")]
    assert main(["baseline", "create", str(tmp_path / "ref.csv"), "--name", "wide", *base]) == 0, \
        capsys.readouterr().err
    code = main(["check", str(tmp_path / "batch.csv"), "--baseline", "wide", "--format", "json", *base])
    report = json.loads(capsys.readouterr().out)
    assert report["batches"][0]["columns"] == 20_000 and code != 3
    assert not any(f["check"] == "unreadable" for f in report["batches"][0]["validation"])
    assert report["batches"][0]["drift"]["tested_count"] == 20_000


@pytest.mark.parametrize("bad,words", [('7,x7,"14', ["never closed", "line 9"]),
                                       ('"7,x7,14', ["unbalanced quote", "line 9"]),
                                       ('7,x7', ["line 9", "2 fields"])])
def test_malformed_quoting_is_critical_with_its_line(tmp_path, credit_dir, capsys, bad, words):
    lines = ["a,b,c"] + [f"{i},x{i},{i * 2}" for i in range(10_000)]
    lines[8] = bad
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n")
    code = main(["check", str(tmp_path / "q.csv"), "--format", "json", "--baseline", "credit",
                 "--baselines-dir", str(credit_dir / "baselines")])
    report = json.loads(capsys.readouterr().out)
    assert code == 2 and report["status"] == "critical"
    message = report["batches"][0]["validation"][0]["message"]
    for w in words:
        assert w in message, message


@pytest.mark.parametrize("section,key,value", [("validation", "null_increase_warning", 2.0),
                                               ("drift", "psi_bins", 0), ("watch", "rescan_interval", 0),
                                               ("watch", "history", 0), ("alerts", "resolve_after", 0),
                                               ("drift", "categorical_effect_warning", 4.0),
                                               ("validation", "unseen_critical", 0.001)])
def test_nonsense_configuration_is_refused(tmp_path, credit_dir, capsys, section, key, value):
    (tmp_path / "sentinel.toml").write_text(f"[{section}]\n{key} = {value}\n")
    write(credit_batch(100, 1), tmp_path / "b.csv")
    code = main(["check", str(tmp_path / "b.csv"), "--config", str(tmp_path / "sentinel.toml"), "--baseline",
                 "credit", "--baselines-dir", str(credit_dir / "baselines")])
    err = capsys.readouterr().err
    assert code == 3 and f"[{section}] {key}" in err and len(err.strip().splitlines()) == 1


SLOW_CHILD = ("import sys, time; import sentinel_tui.engine.monitor as e; real = e.analyse_path; "
              "e.analyse_path = lambda p, *a, **k: (time.sleep(60) if 'poison' in str(p) else None, "
              "real(p, *a, **k))[1]; from sentinel_tui.cli.commands import main; sys.exit(main(sys.argv[1:]))")


def test_a_batch_that_keeps_killing_the_monitor_is_skipped_after_two_attempts(tmp_path, credit_dir):
    from .helpers import wait_until

    watched, state = tmp_path / "w", tmp_path / "state"
    watched.mkdir()
    write(credit_batch(300, 1), watched / "a_poison.csv")
    os.utime(watched / "a_poison.csv", (1_700_000_000, 1_700_000_000))  # oldest: first in line
    write(credit_batch(300, 2), watched / "b_after.csv")

    def attempts() -> int:
        try:
            con = sqlite3.connect(state / "history.sqlite3", timeout=1)
            try:
                row = con.execute("SELECT attempts FROM files WHERE path LIKE '%a_poison.csv' AND "
                                  "status = 'processing'").fetchone()
                return row[0] if row else 0
            finally:
                con.close()
        except sqlite3.Error:
            return 0

    for crash in (1, 2):  # the process dies in the middle of this batch (OOM killer, a decoder's segfault)
        proc = subprocess.Popen([sys.executable, "-c", SLOW_CHILD, "watch", str(watched), "--once", "--baseline",
                                 "credit", "--baselines-dir", str(credit_dir / "baselines"), "--state-dir",
                                 str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda crash=crash: attempts() == crash)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    run = once(watched, credit_dir, "--state-dir", str(state))
    assert run.returncode == 2, run.stderr
    report = json.loads(run.stdout)
    by_name = {b["file"].rsplit("/", 1)[-1]: b for b in report["batches"]}
    assert by_name["b_after.csv"]["rows"] == 300  # the batches behind it are processed
    assert "stopped the monitor 2 times" in by_name["a_poison.csv"]["validation"][0]["message"]
    assert any(a["subject"] == "a_poison.csv" and a["severity"] == "critical" for a in report["open_alerts"])


def test_a_category_column_empty_in_the_reference_is_skipped_without_numpy_warnings(tmp_path):
    import warnings

    import pyarrow.parquet as pq

    from sentinel_tui.baseline.build import build_baseline
    from sentinel_tui.config import Settings
    from sentinel_tui.engine.pipeline import analyse_path

    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    pq.write_table(pa.table({"x": x, "k": pa.array([None] * 2000, pa.string())}), tmp_path / "ref.parquet")
    pq.write_table(pa.table({"x": x, "k": rng.choice(["a", "b"], 2000)}), tmp_path / "batch.parquet")
    s = Settings()
    s.columns.categorical = ["k"]
    baseline = build_baseline(tmp_path / "ref.parquet", "empty_k", s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from NumPy would be printed on every check
        result = analyse_path(tmp_path / "batch.parquet", baseline, s)
    assert result.drift.skipped["k"] == "no values in the reference"


def test_a_batch_over_the_memory_limit_is_refused_with_a_finding(tmp_path, credit_dir):
    write(credit_batch(20_000, 1), tmp_path / "big.csv")  # about 2 MB: 6 MB estimated
    config = tmp_path / "sentinel.toml"
    config.write_text("[input]\nmax_batch_memory_mb = 2\n")
    run = once(tmp_path, credit_dir, "--config", str(config))
    assert run.returncode == 2
    message = json.loads(run.stdout)["batches"][0]["validation"][0]["message"]
    assert "max_batch_memory_mb" in message and "split the batch" in message


@pytest.mark.frames
def test_an_npz_that_inflates_to_gigabytes_is_read_in_bounded_memory(tmp_path):
    frames = np.zeros((12_000, 224, 224, 3), dtype=np.uint8)  # 1.8 GB inflated, a few MB compressed
    np.savez_compressed(tmp_path / "bomb.npz", frames=frames)
    del frames
    assert (tmp_path / "bomb.npz").stat().st_size < 10_000_000
    # VmHWM, not ru_maxrss: the latter survives exec and would count the forking test process.
    code = ("import sys; from sentinel_tui.frames.readers import load_frame_batch; "
            "b = load_frame_batch(sys.argv[1], 96, max_frames=64); "
            "hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
            "print(b.frames.shape[0], b.total, hwm // 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "bomb.npz")], capture_output=True, text=True,
                         timeout=120)
    kept, total, peak_mb = map(int, out.stdout.split())
    assert (kept, total) == (64, 12_000)
    assert peak_mb < 600, peak_mb  # the inflated archive would be 1,800 MB


async def test_an_in_place_writer_that_pauses_is_read_once_when_it_closes(tmp_path, credit_baseline):
    engine, events, stop, task = await start_following(tmp_path, credit_baseline)
    text = credit_batch(1000, 7).to_csv(index=False)
    half = text.index("\n", len(text) // 2) + 1
    with open(tmp_path / "inplace.csv", "w") as fh:
        fh.write(text[:half])
        fh.flush()
        # the writer pauses, file still open, until the monitor has held it quiet past the quiet period
        await until(lambda: engine.source.tracker.held_open > 0)
        assert not [e for e in events if isinstance(e, BatchEvent)], "read while its writer still had it open"
        fh.write(text[half:])
    await until(lambda: any(isinstance(e, BatchEvent) for e in events))
    # the producer appends to it in place: the new result replaces the earlier one (rows never counted twice)
    more = credit_batch(600, 8)
    more["id"] = more["id"].astype(str) + "-more"  # rows of their own (credit_batch's ids always start alike)
    with open(tmp_path / "inplace.csv", "a") as fh:
        fh.write(more.to_csv(index=False, header=False))
    await until(lambda: sum(isinstance(e, BatchEvent) for e in events) == 2)
    stop.set()
    await asyncio.wait_for(task, 10)
    rows = [e.result.rows for e in events if isinstance(e, BatchEvent)]
    assert rows == [1000, 1600]
    db = engine.store.db
    assert [tuple(r) for r in db.execute("SELECT rows FROM batches WHERE path LIKE '%inplace.csv'")] == [(1600,)]
    assert db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 1600


@pytest.mark.frames
def test_one_or_two_frames_get_no_verdict_and_small_batches_exact_p_values(tmp_path, frames_baseline):
    from sentinel_tui.engine.pipeline import analyse_path
    from sentinel_tui.simulate.frame_batches import frame_batch, write_frame_array

    from .conftest import FRAME_SIZE, frame_settings

    s = frame_settings()
    rng = np.random.default_rng(5)
    for n in (1, 2):
        dark = write_frame_array(tmp_path, f"dark{n}", frame_batch(n, rng, FRAME_SIZE, "low_light"))
        r = analyse_path(dark, frames_baseline, s)
        assert r.status.label == "ok" and r.alerts == () and r.embedding is None
        assert any(f.check == "too_few_frames" and "min_frames" in f.message for f in r.findings)
    r = analyse_path(write_frame_array(tmp_path, "dark12", frame_batch(12, rng, FRAME_SIZE, "low_light")),
                     frames_baseline, s)
    assert r.embedding is not None and r.status.label != "ok"  # 12 dark frames are still caught
    from scipy.stats import ks_2samp

    from sentinel_tui.frames.imagestats import image_statistics
    from sentinel_tui.frames.readers import load_frame_batch

    frames = load_frame_batch(tmp_path / "dark12.npy", FRAME_SIZE).frames
    values = image_statistics(frames)["brightness"]
    exact = ks_2samp(frames_baseline.frames.image_stats["brightness"], values, method="exact").pvalue
    assert r.embedding.image_stats["brightness"].p_value == pytest.approx(exact, rel=1e-9) and exact > 0
