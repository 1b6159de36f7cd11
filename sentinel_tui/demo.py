"""`make demo`: a live monitor on a simulated credit model's stream.

Builds the demo baseline (``baselines/demo``, from a seeded reference in ``demo_data/``), starts the
simulator writing batches into ``watch_dir/`` (healthy first, then a covariate shift, an unseen category,
a corrupt file, a schema break and a concept change that only the accuracy shows, so the status visibly goes
from green to red) and opens the monitor on
it. Quitting the monitor stops the simulator: it is a thread of this process, so nothing is left running.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
from pathlib import Path

from .cli import main as cli_main
from .simulate import run_simulation, write_reference

# (scenario, batches): about a minute of stream at one batch per second
PLAN = [("healthy", 10), ("gradual", 10), ("covariate", 8), ("new_category", 4), ("corrupt", 3),
        ("schema_break", 3), ("healthy", 8), ("concept", 10), ("healthy", 10)]


def prepare(root: Path) -> tuple[Path, Path]:
    watch_dir, baselines = root / "watch_dir", root / "baselines"
    reference = root / "demo_data" / "reference.csv"
    watch_dir.mkdir(parents=True, exist_ok=True)
    # Start from a clean stream: only the demo's own batches and its state directory are removed.
    for old in watch_dir.glob("batch_*.csv"):
        old.unlink()
    shutil.rmtree(watch_dir / ".sentinel", ignore_errors=True)
    if not (baselines / "demo" / "baseline.json").exists() or not reference.exists():
        write_reference(reference)
        code = cli_main(["baseline", "create", str(reference), "--name", "demo", "--target", "default",
                         "--prediction", "pred", "--score", "score", "--id", "id", "--timestamp", "ts", "--force",
                         "--baselines-dir", str(baselines)])
        if code:
            raise SystemExit(code)
    return watch_dir, baselines


def stream(watch_dir: Path, stop: threading.Event, rate: float) -> None:
    for seed, (scenario, count) in enumerate(PLAN):
        if stop.is_set():
            return
        run_simulation(watch_dir, scenario=scenario, batches=count, rows=2000, rate=rate, seed=seed, stop=stop)
        if stop.wait(1.0 / rate):
            return


def run(root: Path, rate: float = 1.0, headless: bool = False) -> int:
    watch_dir, baselines = prepare(root)
    stop = threading.Event()
    producer = threading.Thread(target=stream, args=(watch_dir, stop, rate), name="simulator", daemon=True)
    producer.start()
    args = ["watch", str(watch_dir), "--baseline", "demo", "--baselines-dir", str(baselines),
            "--quiet-period", "0.5"]
    if headless or not sys.stdout.isatty():
        args.append("--headless")
    try:
        return cli_main(args)
    finally:
        stop.set()
        producer.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sentinel_tui.demo", description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=1.0, help="batches per second (default 1)")
    p.add_argument("--headless", action="store_true", help="print lines instead of opening the dashboard")
    p.add_argument("--root", type=Path, default=Path("."), help="where watch_dir/ and baselines/ are")
    args = p.parse_args(argv)
    return run(args.root, rate=args.rate, headless=args.headless)


if __name__ == "__main__":
    sys.exit(main())
