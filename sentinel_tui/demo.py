"""`make demo`: a simulated credit model's stream, its baseline, and Sentinel's verdicts on it.

Writes the reference to ``demo_data/reference.csv``, the baseline to ``baselines/demo`` and batches to
``watch_dir/`` (healthy first, then a covariate shift, an unseen category, a corrupt file and a schema
break), then runs ``sentinel check`` on every batch so each verdict can be seen side by side.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import main as cli_main
from .simulate import run_simulation

PLAN = [("healthy", 4), ("covariate", 2), ("new_category", 1), ("corrupt", 1), ("schema_break", 1)]


def run(root: Path = Path(".")) -> int:
    watch_dir = root / "watch_dir"
    reference = root / "demo_data" / "reference.csv"
    baselines = root / "baselines"
    watch_dir.mkdir(parents=True, exist_ok=True)
    # Only the demo's own earlier batches are removed; anything else in watch_dir is left alone.
    for old in watch_dir.glob("batch_*.csv"):
        old.unlink()
    for seed, (scenario, count) in enumerate(PLAN):
        run_simulation(watch_dir, scenario=scenario, batches=count, rows=2000, seed=seed,
                       reference=reference if seed == 0 else None)
    print(f"wrote {sum(n for _, n in PLAN)} batches to {watch_dir}/ and the reference to {reference}",
          file=sys.stderr)
    code = cli_main(["baseline", "create", str(reference), "--name", "demo", "--target", "default",
                     "--prediction", "pred", "--id", "id", "--timestamp", "ts", "--force",
                     "--baselines-dir", str(baselines)])
    if code:
        return code
    files = [str(p) for p in sorted(watch_dir.glob("batch_*.csv"))]
    cli_main(["check", *files, "--baseline", "demo", "--baselines-dir", str(baselines)])
    print("\nTry: sentinel check watch_dir/batch_00004.csv --baseline demo --format json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run())
