from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sentinel_tui.simulate import generate


def credit_batch(rows: int = 1000, seed: int = 1) -> pd.DataFrame:
    return generate(rows, np.random.default_rng(seed), start_id=10_000_000)


def write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path
