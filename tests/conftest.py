from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.baseline.store import Baseline, load_baseline, save_baseline
from sentinel_tui.config import Settings
from sentinel_tui.simulate import ROLES, generate

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
def synth_baseline(tmp_path_factory) -> Baseline:
    """30 features of many shapes, 50,000 reference rows."""
    root = tmp_path_factory.mktemp("synth")
    pacsv.write_csv(synth_table(50_000, np.random.default_rng(2026)), root / "reference.csv")
    return build_baseline(root / "reference.csv", "synth", Settings())
