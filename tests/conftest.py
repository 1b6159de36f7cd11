from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.baseline.snapshot import Baseline, load_baseline, save_baseline
from sentinel_tui.config import Settings
from sentinel_tui.simulate.tabular import ROLES, generate

from .synth import synth_table

# Times on screen are local times: fix the zone so snapshots render the same on every machine.
os.environ["TZ"] = "UTC"
time.tzset()


def credit_settings() -> Settings:
    s = Settings()
    for role, column in ROLES.items():
        setattr(s.columns, role, column)
    return s


@pytest.fixture(scope="session")
def credit_dir(tmp_path_factory) -> Path:
    """A reference CSV of the simulated credit model and its saved baseline 'credit'."""
    root = tmp_path_factory.mktemp("credit")
    generate(20_000, np.random.default_rng(7)).to_csv(root / "reference.csv", index=False)
    baseline = build_baseline(root / "reference.csv", "credit", credit_settings())
    save_baseline(baseline, root / "baselines" / "credit")
    return root


@pytest.fixture(scope="session")
def credit_baseline(credit_dir) -> Baseline:
    return load_baseline("credit", credit_dir / "baselines")


@pytest.fixture(scope="session")
def noid_baseline(credit_dir) -> Baseline:
    """The README's quick start: target and prediction declared, no id column (ids and times stay undeclared)."""
    s = Settings()
    s.columns.target, s.columns.prediction = ROLES["target"], ROLES["prediction"]
    baseline = build_baseline(credit_dir / "reference.csv", "noid", s)
    save_baseline(baseline, credit_dir / "baselines" / "noid")
    return load_baseline("noid", credit_dir / "baselines")


@pytest.fixture(scope="session")
def synth_baseline(tmp_path_factory) -> Baseline:
    """30 features of many shapes, 50,000 reference rows."""
    root = tmp_path_factory.mktemp("synth")
    pacsv.write_csv(synth_table(50_000, np.random.default_rng(2026)), root / "reference.csv")
    return build_baseline(root / "reference.csv", "synth", Settings())


FRAME_SIZE = 128  # tests embed at 128 px (a third of the cost of 224) from 128 px generated frames


def frame_settings() -> Settings:
    s = Settings()
    s.frames.input_size = FRAME_SIZE
    s.frames.weights = "random"  # the same model on every machine, whatever Keras has cached
    return s


@pytest.fixture(scope="session")
def frames_dir(tmp_path_factory) -> Path:
    """Generated reference frames and a saved frame baseline 'cams' (and 'both', with the credit table)."""
    pytest.importorskip("tensorflow", reason="the frames extra is not installed (make test installs it)")
    from sentinel_tui.cli.frame_commands import frames_only_baseline
    from sentinel_tui.frames.embedding_drift import build_frame_reference
    from sentinel_tui.simulate.frame_batches import write_reference_frames

    root = tmp_path_factory.mktemp("frames")
    write_reference_frames(root / "ref", frames=640, size=FRAME_SIZE, seed=0)
    ref, problems = build_frame_reference(root / "ref", frame_settings())
    assert not problems
    save_baseline(frames_only_baseline("cams", ref), root / "baselines" / "cams")
    generate(20_000, np.random.default_rng(7)).to_csv(root / "reference.csv", index=False)
    both = build_baseline(root / "reference.csv", "both", credit_settings())
    both.frames = ref
    save_baseline(both, root / "baselines" / "both")
    return root


@pytest.fixture(scope="session")
def frames_baseline(frames_dir) -> Baseline:
    return load_baseline("cams", frames_dir / "baselines")
