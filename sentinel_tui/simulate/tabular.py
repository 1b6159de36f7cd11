"""A synthetic but realistic model-serving stream: a credit-default model's inputs, outputs and labels.

Batches are written with the atomic-rename pattern producers should use (write a hidden temporary file in
the same directory, then ``os.replace`` it to its final name), so a watcher never sees half a file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SCENARIOS = ("healthy", "covariate", "gradual", "missing", "new_category", "schema_break", "concept", "corrupt")
REGIONS = ["EU", "US", "APAC", "LATAM"]
REGION_P = [0.4, 0.3, 0.2, 0.1]
CHANNELS = ["web", "app", "branch", "partner"]
CHANNEL_P = [0.45, 0.35, 0.15, 0.05]
EMPLOYMENT = ["salaried", "self_employed", "student", "retired", "unemployed"]
EMPLOYMENT_P = [0.55, 0.2, 0.1, 0.1, 0.05]
ROLES = {"target": "default", "prediction": "pred", "score": "score", "id": "id", "timestamp": "ts"}
# `make demo`'s table stream, also replayed by the README screenshot (tui/screenshot.py): (scenario, batches),
# the scenario at position k seeded with k, DEMO_ROWS rows a batch. 66 batches at one a second: about 70 s.
DEMO_PLAN = (("healthy", 10), ("gradual", 10), ("covariate", 8), ("new_category", 4), ("corrupt", 3),
             ("schema_break", 3), ("healthy", 8), ("concept", 10), ("healthy", 10))
DEMO_ROWS = 2000


@dataclass(frozen=True)
class Shift:
    """How far a batch departs from the reference (0 = healthy)."""

    covariate: float = 0.0  # income x (1 + 0.5 c), credit score - 60 c
    missing: float = 0.0  # share of missing income and region
    new_category: float = 0.0  # share of rows from an unseen region
    concept: float = 0.0  # strength of the changed label relation


def generate(rows: int, rng: np.random.Generator, shift: Shift = Shift(), start_id: int = 0,
             extra_features: int = 0, start_time: float = 1_767_225_600.0) -> pd.DataFrame:
    age = np.clip(rng.normal(42, 12, rows), 18, 90).round().astype(int)
    income = rng.lognormal(10.6, 0.55, rows) * (1 + 0.5 * shift.covariate)
    credit = np.clip(rng.normal(680, 60, rows) - 60 * shift.covariate, 300, 850).round()
    debt_ratio = rng.beta(2, 5, rows)
    accounts = rng.poisson(4, rows)
    region = rng.choice(REGIONS, rows, p=REGION_P).astype(object)
    if shift.new_category:
        region[rng.random(rows) < shift.new_category] = "MARS"
    channel = rng.choice(CHANNELS, rows, p=CHANNEL_P)
    employment = rng.choice(EMPLOYMENT, rows, p=EMPLOYMENT_P)
    mortgage = rng.random(rows) < 0.35
    z = (-2.0 - 0.012 * (credit - 680) + 2.5 * (debt_ratio - 0.28) - 0.4 * (np.log(income) - 10.6)
         + 0.8 * (employment == "unemployed") + 0.02 * (accounts - 4))
    score = 1 / (1 + np.exp(-z))
    true_z = z + shift.concept * (3.0 * (region == "EU") - 1.0 * mortgage)
    default = rng.random(rows) < 1 / (1 + np.exp(-true_z))
    df = pd.DataFrame({
        "id": [f"tx-{i:08d}" for i in range(start_id, start_id + rows)],
        "ts": pd.to_datetime(start_time + np.arange(rows) * 0.5, unit="s").strftime("%Y-%m-%dT%H:%M:%S"),
        "age": age, "income": income.round(2), "credit_score": credit.astype(int),
        "debt_ratio": debt_ratio.round(4), "accounts": accounts, "region": region, "channel": channel,
        "employment": employment, "has_mortgage": mortgage,
    })
    for k in range(extra_features):
        df[f"x{k:03d}"] = rng.normal(k % 7, 1 + k % 3, rows).round(5)
    if shift.missing:
        for col in ("income", "region"):
            df.loc[rng.random(rows) < shift.missing, col] = None
    df["score"] = score.round(4)
    df["pred"] = (score >= 0.5).astype(int)
    df["default"] = default.astype(int)
    return df


def write_atomic(directory: Path, name: str, write: Callable[[Path], None]) -> Path:
    tmp = directory / f".{name}.tmp"
    write(tmp)
    final = directory / name
    os.replace(tmp, final)
    return final


def write_csv_atomic(df: pd.DataFrame, directory: Path, name: str) -> Path:
    return write_atomic(directory, name, lambda p: df.to_csv(p, index=False))


def _shift_for(scenario: str, step: int) -> Shift:
    """step counts batches since the scenario started (0-based)."""
    match scenario:
        case "covariate":
            return Shift(covariate=1.0)
        case "gradual":
            return Shift(covariate=min(1.0, 0.1 * (step + 1)))
        case "missing":
            return Shift(missing=0.3)
        case "new_category":
            return Shift(new_category=0.15)
        case "concept":
            return Shift(concept=1.0)
    return Shift()


def _break_schema(df: pd.DataFrame) -> pd.DataFrame:
    df = df.drop(columns=["credit_score"]).rename(columns={"age": "customer_age"})
    df["debt_ratio"] = df["debt_ratio"].astype(str).where(df.index % 4 != 0, "unknown")
    return df


def _write_corrupt(path: Path, step: int) -> None:
    kinds = [lambda: b"\x00\x01\x02PK\x03\x04" + os.urandom(256),  # binary
             lambda: b"age,income,region\n42,51000,EU\n43,5",  # truncated mid-row
             lambda: b"age;income;region\n42;51000;EU\n"]  # wrong delimiter
    path.write_bytes(kinds[step % len(kinds)]())


def write_reference(path: Path, rows: int = 20_000, seed: int = 0, features: int = 0) -> Path:
    """The healthy reference the simulated stream is compared with (seeded apart from the batches)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(rows, np.random.default_rng(seed + 10_000), extra_features=features).to_csv(path, index=False)
    return path


def run_simulation(directory: Path, scenario: str = "healthy", batches: int = 20, rows: int = 1000,
                   rate: float = 0.0, drift_after: int = 0, seed: int = 0, reference: Path | None = None,
                   features: int = 0, reference_rows: int = 20_000,
                   on_batch: Callable[[Path], None] | None = None,
                   stop: threading.Event | None = None, label_delay: int = 0) -> list[Path]:
    """Write ``batches`` batches; with ``label_delay`` > 0 the label column is left out of each batch and
    written as ``batch_NNNNN.labels.csv`` (id + label) that many batches later, as late labels arrive."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if reference is not None:
        write_reference(reference, reference_rows, seed, features)
    existing = sorted(directory.glob("batch_*.csv"))
    first = int(existing[-1].stem.split("_")[-1]) + 1 if existing else 0
    written = []
    pending_labels: list[tuple[int, pd.DataFrame]] = []
    for i in range(batches):
        index = first + i
        name = f"batch_{index:05d}.csv"
        active = i >= drift_after and scenario != "healthy"
        step = i - drift_after
        if active and scenario == "corrupt" and step % 3 == 0:
            path = write_atomic(directory, name, lambda p, s=step: _write_corrupt(p, s))
        else:
            df = generate(rows, rng, _shift_for(scenario, step) if active else Shift(),
                          start_id=index * rows, extra_features=features,
                          start_time=1_767_225_600.0 + index * rows * 0.5)
            if active and scenario == "schema_break":
                df = _break_schema(df)
            if label_delay > 0 and "default" in df.columns:
                pending_labels.append((index, df[["id", "default"]]))
                df = df.drop(columns=["default"])
            path = write_csv_atomic(df, directory, name)
        while pending_labels and pending_labels[0][0] <= index - label_delay:
            labelled_index, labels = pending_labels.pop(0)
            written.append(write_csv_atomic(labels, directory, f"batch_{labelled_index:05d}.labels.csv"))
        written.append(path)
        if on_batch is not None:
            on_batch(path)
        if pace(i, batches, rate, stop):
            break
    return written


def pace(i: int, batches: int, rate: float, stop: threading.Event | None) -> bool:
    """Wait between batch ``i`` and the next at ``rate`` per second; True when ``stop`` says to end."""
    if stop is not None and stop.is_set():
        return True
    if rate > 0 and i < batches - 1:
        if stop is not None:
            return stop.wait(1.0 / rate)
        time.sleep(1.0 / rate)
    return False
