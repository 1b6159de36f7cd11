"""`make demo`: a live monitor on a simulated credit model's stream.

Builds the demo baseline when it is missing (``baselines/demo``, from a seeded reference in ``demo_data/``;
both git-ignored, so the demo leaves ``git status`` clean), starts the simulator writing batches into
``watch_dir/`` (healthy first, then a covariate shift, an unseen category, a corrupt file, a schema break and a
concept change that only the accuracy shows, so the status visibly goes from green to red) and opens the
monitor on it. When the frames extra is installed, a camera stream of frame
batches runs beside it (healthy, then darker, blurred and noisy frames). Quitting the monitor stops the
simulators: they are threads of this process, so nothing is left running.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import threading
from pathlib import Path

from sentinel_tui.cli.commands import main as cli_main
from sentinel_tui.simulate.frame_batches import run_frame_simulation, write_reference_frames
from sentinel_tui.simulate.tabular import DEMO_PLAN, DEMO_ROWS, run_simulation, write_reference

# The table stream: DEMO_PLAN (simulate/tabular.py), 66 batches at one a second, about 70 s (68 s measured).
# The camera stream: one 32-frame batch every two seconds beside it, 39 batches, about 90 s (writing the PNGs
# takes its share too).
FRAME_PLAN = [("healthy", 8), ("low_light", 5), ("healthy", 5), ("blur", 5), ("healthy", 4), ("noise", 4),
              ("healthy", 8)]
DEMO_FRAME_SIZE = 128  # small frames and model input keep the demo light on a laptop CPU


def frames_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("tensorflow", "PIL"))


def prepare(root: Path, frames: bool = False) -> tuple[Path, Path]:
    watch_dir, baselines = root / "watch_dir", root / "baselines"
    reference = root / "demo_data" / "reference.csv"
    reference_frames = root / "demo_data" / "frames"
    watch_dir.mkdir(parents=True, exist_ok=True)
    # Start from a clean stream: only the demo's own batches and its state directory are removed.
    for old in watch_dir.glob("batch_*.csv"):
        old.unlink()
    for old in watch_dir.glob("frames_*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    shutil.rmtree(watch_dir / ".sentinel", ignore_errors=True)
    meta = baselines / "demo" / "baseline.json"
    has_frames = meta.exists() and '"frames"' in meta.read_text(encoding="utf-8")
    if not meta.exists() or not reference.exists() or (frames and not has_frames):
        write_reference(reference)
        args = ["baseline", "create", str(reference), "--name", "demo", "--target", "default",
                "--prediction", "pred", "--score", "score", "--id", "id", "--timestamp", "ts", "--force",
                "--baselines-dir", str(baselines)]
        if frames:
            print("building the demo baseline's frame reference (MobileNetV2, once)...", file=sys.stderr)
            write_reference_frames(reference_frames, size=DEMO_FRAME_SIZE)
            args += ["--frames", str(reference_frames), "--input-size", str(DEMO_FRAME_SIZE), "--weights", "random"]
        code = cli_main(args)
        if code:
            raise SystemExit(code)
    return watch_dir, baselines


def stream(watch_dir: Path, stop: threading.Event, rate: float) -> None:
    for seed, (scenario, count) in enumerate(DEMO_PLAN):
        if stop.is_set():
            return
        run_simulation(watch_dir, scenario=scenario, batches=count, rows=DEMO_ROWS, rate=rate, seed=seed, stop=stop)
        if stop.wait(1.0 / rate):
            return


def frame_stream(watch_dir: Path, stop: threading.Event, rate: float) -> None:
    for seed, (scenario, count) in enumerate(FRAME_PLAN):
        if stop.is_set():
            return
        run_frame_simulation(watch_dir, scenario=scenario, batches=count, frames=32, size=DEMO_FRAME_SIZE,
                             rate=rate / 2, seed=100 + seed, stop=stop)
        if stop.wait(2.0 / rate):
            return


def run(root: Path, rate: float = 1.0, headless: bool = False, frames: bool | None = None) -> int:
    frames = frames_available() if frames is None else frames
    watch_dir, baselines = prepare(root, frames)
    stop = threading.Event()
    producers = [threading.Thread(target=stream, args=(watch_dir, stop, rate), name="simulator", daemon=True)]
    if frames:
        producers.append(threading.Thread(target=frame_stream, args=(watch_dir, stop, rate), name="cameras",
                                          daemon=True))
    for producer in producers:
        producer.start()
    args = ["watch", str(watch_dir), "--baseline", "demo", "--baselines-dir", str(baselines),
            "--quiet-period", "0.5"]
    if headless or not sys.stdout.isatty():
        args.append("--headless")
    try:
        return cli_main(args)
    finally:
        stop.set()
        for producer in producers:
            producer.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sentinel_tui.simulate.demo", description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=1.0, help="batches per second (default 1)")
    p.add_argument("--headless", action="store_true", help="print lines instead of opening the dashboard")
    p.add_argument("--root", type=Path, default=Path("."), help="where watch_dir/ and baselines/ are")
    p.add_argument("--no-frames", action="store_true", help="no camera stream, even with the frames extra")
    args = p.parse_args(argv)
    return run(args.root, rate=args.rate, headless=args.headless, frames=False if args.no_frames else None)


if __name__ == "__main__":
    sys.exit(main())
