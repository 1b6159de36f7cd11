from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sentinel_tui.simulate.tabular import generate


def credit_batch(rows: int = 1000, seed: int = 1) -> pd.DataFrame:
    return generate(rows, np.random.default_rng(seed), start_id=10_000_000)


def write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (for other processes and threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait on the event loop until ``predicate`` holds (an engine's or a process's observable state)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def start_following(directory: Path, baseline, store=None, **watch):
    """An engine following ``directory`` (quiet period 0.2 s, ``watch`` settings overridden), started and idle:
    (engine, events, stop, task)."""
    import asyncio

    from sentinel_tui.engine.monitor import Engine
    from sentinel_tui.engine.store import Store

    from .conftest import credit_settings

    settings = credit_settings()
    settings.watch.quiet_period = 0.2
    for key, value in watch.items():
        setattr(settings.watch, key, value)
    events: list = []
    engine = Engine(directory, baseline, settings, store or Store(directory / ".sentinel"))
    engine.subscribe(events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    await asyncio.wait_for(engine.idle(), 30)
    return engine, events, stop, task
