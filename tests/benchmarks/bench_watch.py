"""Watch-mode figures: rename-to-result latency, memory over 1,000 batches, 2,000 files dropped at once."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from sentinel_tui.baseline.build import build_baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine.allocator import tune_allocator
from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import BatchEvent
from sentinel_tui.simulate.tabular import ROLES, generate, write_csv_atomic

Row = tuple[str, float, str, bool]


def _settings() -> Settings:
    s = Settings()
    for role, column in ROLES.items():
        setattr(s.columns, role, column)
    return s


def _baseline(root: Path):
    generate(20_000, np.random.default_rng(0)).to_csv(root / "ref.csv", index=False)
    return build_baseline(root / "ref.csv", "bench", _settings())


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_latency(root: Path, baseline, batches: int = 40, staging: bool = False) -> list[Row]:
    """Rename a 10,000-row batch into the watched directory (from a hidden name inside it, or with
    ``staging`` from another directory on the same file system); time until its result event."""
    name = "staging" if staging else "latency"
    watched = root / name
    watched.mkdir()
    source_dir = root / f"{name}-out" if staging else watched
    source_dir.mkdir(exist_ok=True)
    frames = [generate(10_000, np.random.default_rng(100 + i), start_id=i * 10_000) for i in range(batches)]
    engine = Engine(watched, baseline, _settings(), Store(root / f"{name}-state"))
    renamed: dict[str, float] = {}
    latencies: list[float] = []

    def on_event(e) -> None:
        if isinstance(e, BatchEvent):
            latencies.append(time.monotonic() - renamed[e.result.file])

    engine.subscribe(on_event)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        await asyncio.sleep(0.5)
        for i, df in enumerate(frames):
            tmp = source_dir / (f"b{i}.csv" if staging else f".b{i}.tmp")
            await asyncio.to_thread(df.to_csv, tmp, index=False)
            final = watched / f"b{i:04d}.csv"
            renamed[str(final.resolve())] = time.monotonic()
            os.replace(tmp, final)
            while len(latencies) <= i:
                await asyncio.sleep(0.005)
        stop.set()
        await task

    asyncio.run(main())
    engine.store.close()
    p50, p95 = np.percentile(latencies, [50, 95])
    what = "mv from another directory" if staging else "rename"
    return [(f"{what} -> result, 10k-row batch, p50 ({batches} batches)", float(p50), "", True),
            (f"{what} -> result, 10k-row batch, p95", float(p95), "target <= 0.300 s", p95 <= 0.3)]


def bench_memory(root: Path, baseline, batches: int = 1000) -> list[Row]:
    """1,000 batches of 10,000 rows back to back: resident memory after the 100th vs after the last."""
    watched = root / "memory"
    watched.mkdir()
    engine = Engine(watched, baseline, _settings(), Store(root / "memory-state"))
    template = generate(10_000, np.random.default_rng(7))
    rss: dict[int, float] = {}
    rng = np.random.default_rng(8)

    async def main() -> None:
        for i in range(batches):
            df = template.copy()
            df["income"] = df["income"] * (1 + 0.01 * rng.standard_normal())  # new content, new identity
            path = write_csv_atomic(df, watched, f"m{i:04d}.csv")
            await engine.process(str(path), time.monotonic())
            path.unlink()  # the benchmark is the producer here; disk stays small
            if i + 1 in (100, batches):
                rss[i + 1] = _rss_mb()

    t = time.perf_counter()
    asyncio.run(main())
    took = time.perf_counter() - t
    engine.store.close()
    growth = rss[batches] - rss[100]
    return [(f"memory: RSS after batch 100 / {batches} (MB)", rss[100], f"{rss[batches]:.0f} MB after the last", True),
            ("memory: growth from batch 100 to the last (MB)", growth, "target <= 50 MB", growth <= 50),
            (f"  {batches} batches of 10k rows back to back (s)", took, f"{batches * 10_000 / took:,.0f} rows/s", True)]


def bench_flood(root: Path, baseline, files: int = 2000) -> list[Row]:
    """2,000 small files renamed into the directory as fast as possible: all processed, none twice."""
    watched = root / "flood"
    watched.mkdir()
    settings = _settings()
    settings.watch.quiet_period = 0.5
    engine = Engine(watched, baseline, settings, Store(root / "flood-state"))
    seen: list[str] = []
    engine.subscribe(lambda e: seen.append(e.result.file) if isinstance(e, BatchEvent) else None)
    small = generate(20, np.random.default_rng(3))
    texts = []
    for i in range(files):
        df = small.copy()
        df["id"] = [f"f{i}-{k}" for k in range(len(df))]
        texts.append(df.to_csv(index=False))

    def produce() -> None:
        for i, text in enumerate(texts):
            tmp = watched / f".f{i}.tmp"
            tmp.write_text(text)
            os.replace(tmp, watched / f"f{i:05d}.csv")

    async def main() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        await asyncio.sleep(0.5)
        t = time.perf_counter()
        writer = threading.Thread(target=produce)
        writer.start()
        deadline = time.monotonic() + 300
        while len(seen) < files and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        took = time.perf_counter() - t
        await asyncio.sleep(1.0)  # anything processed twice would show up now
        writer.join()
        stop.set()
        await task
        return took

    took = asyncio.run(main())
    engine.store.close()
    ok = len(seen) == files and len(set(seen)) == files
    return [(f"{files} small files dropped at once: all processed (s)", took,
             f"{len(set(seen))} distinct of {files}, {len(seen) - len(set(seen))} twice", ok)]


def run() -> list[Row]:
    tune_allocator()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        baseline = _baseline(root)
        return [*bench_latency(root, baseline), *bench_latency(root, baseline, staging=True),
                *bench_flood(root, baseline), *bench_memory(root, baseline)]
