"""Bad files get a clear critical finding naming the file and the reason; the other batches still run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from .helpers import credit_batch, write

BAD = {
    "not_csv.csv": b"%PDF-1.7\n\x00\x00\x01binary pdf data\x00",
    "binary.csv": bytes(range(256)) * 4,
    "empty.csv": b"",
    "truncated.csv": None,  # filled in below: a valid file cut mid-row
    "semicolons.csv": None,
    "latin1.csv": None,
    "header_only.csv": None,
    "too_big.csv": None,
}

REASONS = {
    "not_csv.csv": "binary data",
    "binary.csv": "binary data",
    "empty.csv": "file is empty",
    "truncated.csv": "truncated",
    "semicolons.csv": "wrong delimiter",
    "latin1.csv": "not UTF-8",
    "too_big.csv": "size cap",
}


@pytest.fixture
def mixed_dir(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = credit_batch(500)
    write(good, d / "good_1.csv")
    write(credit_batch(500, seed=2), d / "good_2.csv")
    text = good.to_csv(index=False)
    BAD["truncated.csv"] = text[: len(text) // 2 + 7].encode()
    BAD["semicolons.csv"] = good.to_csv(index=False, sep=";").encode()
    latin = good.copy()
    latin["region"] = "Zürich"
    BAD["latin1.csv"] = latin.to_csv(index=False).encode("latin-1")
    BAD["header_only.csv"] = (",".join(good.columns) + "\n").encode()
    BAD["too_big.csv"] = (text * 30).encode()  # ~ 3 MB, over the 1 MB cap used below
    for name, content in BAD.items():
        (d / name).write_bytes(content)
    return d


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_mixed_good_and_bad_files_in_one_check(mixed_dir, credit_dir):
    before = _digest(mixed_dir)
    files = sorted(str(p) for p in mixed_dir.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel_tui", "check", *files, "--baseline", "credit", "--format", "json",
         "--baselines-dir", str(credit_dir / "baselines"), "--max-file-mb", "1"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    by_name = {b["file"].rsplit("/", 1)[-1]: b for b in report["batches"]}
    assert set(by_name) == {p.rsplit("/", 1)[-1] for p in files}
    for good in ("good_1.csv", "good_2.csv"):
        assert by_name[good]["status"] == "ok"
        assert by_name[good]["drift"]["tested_count"] == 9
    for name, reason in REASONS.items():
        batch = by_name[name]
        assert batch["status"] == "critical", name
        (finding,) = batch["validation"]
        assert finding["kind"] == "pipeline" and finding["severity"] == "critical"
        assert finding["message"].startswith(name) and reason in finding["message"], finding["message"]
        assert batch["alerts"][0]["subject"] == name
    header_only = by_name["header_only.csv"]
    assert [f["check"] for f in header_only["validation"]] == ["empty_batch"]
    assert _digest(mixed_dir) == before  # inputs are never modified


def test_missing_file_is_a_finding_not_a_crash(credit_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel_tui", "check", str(tmp_path / "nope.csv"), "--baseline", "credit",
         "--baselines-dir", str(credit_dir / "baselines"), "--format", "json"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    (batch,) = json.loads(proc.stdout)["batches"]
    assert "cannot open" in batch["validation"][0]["message"]
