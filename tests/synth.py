"""Seeded synthetic tables with many kinds of feature, for the statistical rate tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

CATS = {
    "c_uniform": (["a", "b", "c", "d"], [0.25, 0.25, 0.25, 0.25]),
    "c_skewed": (["x", "y", "z"], [0.8, 0.15, 0.05]),
    "c_rare": (["common", "mid", "rare1", "rare2", "rare3"], [0.9, 0.08, 0.01, 0.006, 0.004]),
    "c_many": ([f"k{i:02d}" for i in range(40)], list(np.full(40, 1 / 40))),
    "c_binaryish": (["yes", "no"], [0.7, 0.3]),
    "c_zipf": ([f"z{i}" for i in range(12)], list((1 / np.arange(1, 13)) / (1 / np.arange(1, 13)).sum())),
}
BOOLS = {"b_half": 0.5, "b_rare": 0.02, "b_common": 0.9}


def synth_table(rows: int, rng: np.random.Generator, shift: dict[str, float] | None = None,
                numeric: int = 21) -> pa.Table:
    """30 features by default: 21 numeric of 7 shapes, 6 categorical, 3 boolean.

    ``shift`` maps a numeric column to a mean shift in units of that column's std.
    """
    shift = shift or {}
    cols: dict[str, pa.Array] = {}
    makers = [
        (lambda n: rng.normal(0, 1, n), 1.0),
        (lambda n: rng.lognormal(3, 0.8, n), float(np.sqrt((np.exp(0.64) - 1) * np.exp(6 + 0.64)))),
        (lambda n: rng.uniform(-5, 5, n), 10 / np.sqrt(12)),
        (lambda n: rng.exponential(2.0, n), 2.0),
        (lambda n: rng.poisson(30, n).astype(float), np.sqrt(30)),
        (lambda n: rng.standard_t(4, n) * 3 + 100, 3 * np.sqrt(2)),
        (lambda n: rng.integers(0, 5, n).astype(float), np.sqrt(2.0)),  # low-cardinality numeric
    ]
    for i in range(numeric):
        make, std = makers[i % len(makers)]
        name = f"n{i:02d}"
        cols[name] = pa.array(make(rows) + shift.get(name, 0.0) * std)
    for name, (values, p) in CATS.items():
        codes = rng.choice(len(values), size=rows, p=np.asarray(p) / np.sum(p))
        cols[name] = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values)).cast(pa.string())
    for name, p in BOOLS.items():
        cols[name] = pa.array(rng.random(rows) < p)
    return pa.table(cols)
