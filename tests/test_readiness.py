"""The readiness component (pure: injected clock and stat) and the candidate filter."""

from __future__ import annotations

from pathlib import Path

from sentinel_tui.engine.readiness import ReadinessTracker, is_batch_candidate


class FakeFS:
    def __init__(self):
        self.files: dict[str, tuple[int, float]] = {}

    def stat(self, path: str):
        return self.files.get(path)


def test_closed_or_moved_files_are_ready_at_once():
    fs, t = FakeFS(), ReadinessTracker(quiet_period=1.0)
    fs.files["a.csv"] = (10, 1.0)
    fs.files["b.csv"] = (10, 1.0)
    t.observe("a.csv", "created", 0.0)
    t.observe("a.csv", "closed", 0.01)
    t.observe("b.csv", "moved", 0.02)
    assert t.poll(0.03, fs.stat) == ["a.csv", "b.csv"]
    assert t.poll(5.0, fs.stat) == []  # forgotten once returned


def test_a_growing_file_waits_for_the_quiet_period():
    fs, t = FakeFS(), ReadinessTracker(quiet_period=1.0)
    fs.files["big.csv"] = (100, 1.0)
    t.observe("big.csv", "created", 0.0)
    assert t.poll(0.1, fs.stat) == []
    fs.files["big.csv"] = (200, 1.5)  # still being written
    t.observe("big.csv", "modified", 0.5)
    assert t.poll(0.6, fs.stat) == []
    assert t.poll(1.4, fs.stat) == []  # stable for 0.8 s only
    assert t.poll(1.7, fs.stat) == ["big.csv"]


def test_a_write_after_close_restarts_the_wait():
    fs, t = FakeFS(), ReadinessTracker(quiet_period=1.0)
    fs.files["x.csv"] = (1, 1.0)
    t.observe("x.csv", "closed", 0.0)
    t.observe("x.csv", "modified", 0.0)
    assert t.poll(0.1, fs.stat) == []
    assert t.poll(1.2, fs.stat) == ["x.csv"]


def test_deleted_and_vanished_files_are_dropped_and_order_is_arrival_order():
    fs, t = FakeFS(), ReadinessTracker(quiet_period=0.5)
    for i, name in enumerate(["3.csv", "1.csv", "2.csv"]):
        fs.files[name] = (1, 1.0)
        t.observe(name, "created", i * 0.01)
    t.observe("1.csv", "deleted", 0.1)
    del fs.files["2.csv"]
    assert t.poll(0.2, fs.stat) == []
    assert t.poll(1.0, fs.stat) == ["3.csv"]
    assert len(t) == 0


def test_candidates(tmp_path):
    root, state = tmp_path, tmp_path / ".sentinel"
    yes = ["batch_1.csv", "B.CSV", "x.csv.gz"]
    no = [".hidden.csv", "batch.csv.tmp", "batch.csv.part", "batch.csv~", "notes.txt", ".sentinel/x.csv",
          "sub/.dir/x.csv"]
    for name in yes:
        assert is_batch_candidate(root / name, root, state), name
    for name in no:
        assert not is_batch_candidate(root / name, root, state), name
    assert not is_batch_candidate(Path("/elsewhere/a.csv"), root, state)
