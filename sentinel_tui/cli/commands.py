"""The ``sentinel`` command line. Heavy modules are imported inside the commands so ``--help`` is instant.

Exit status (monitoring-plugin convention): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad arguments,
configuration or baseline). stdout carries only the report; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from sentinel_tui.cli.common import (
    EXIT_UNKNOWN,
    baselines_dir,
    fail,
    plugin_format,
    settings_from,
    stdout_to_devnull,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit 2, which means CRITICAL to a checker
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNKNOWN, f"{self.prog}: error: {message}\n")


def cmd_baseline_create(args: argparse.Namespace) -> int:
    from sentinel_tui.baseline.build import build_baseline
    from sentinel_tui.baseline.snapshot import save_baseline, validate_name

    settings = settings_from(args)
    directory = baselines_dir(args) / validate_name(args.name)
    if (directory / "baseline.json").exists() and not args.force:
        return fail(f"baseline {args.name!r} already exists in {directory}; use --force to replace it")
    if args.reference is None and args.frames is None:
        return fail("give a reference CSV, --frames REF_DIR, or both")
    frames = None
    if args.frames is not None:
        from sentinel_tui.cli.frame_commands import build_frames

        frames = build_frames(Path(args.frames), settings)
    if args.reference is None:
        from sentinel_tui.cli.frame_commands import frames_only_baseline

        baseline = frames_only_baseline(args.name, frames)
    elif settings.engine.name == "dask":
        from sentinel_tui.engine.dask_engine import build_baseline_on_cluster

        baseline = build_baseline_on_cluster(args.reference, args.name, settings)
        baseline.frames = frames
    else:
        baseline = build_baseline(args.reference, args.name, settings)
        baseline.frames = frames
    save_baseline(baseline, directory)
    if frames is not None:
        model = frames.meta["model"]
        print(f"baseline {args.name!r} frames: {frames.meta['frames']} reference frames at "
              f"{frames.input_size}px, {model['name']} weights {model['weights']}", file=sys.stderr)
    if args.reference is None:
        return 0
    types: dict[str, int] = {}
    for c in baseline.columns.values():
        types[c.type] = types.get(c.type, 0) + 1
    summary = ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
    print(f"baseline {args.name!r} written to {directory}: {baseline.meta['source']['rows']} rows, "
          f"{len(baseline.columns)} columns ({summary}), sample of {baseline.sample.num_rows} rows",
          file=sys.stderr)
    return 0


def cmd_baseline_show(args: argparse.Namespace) -> int:
    import json

    from sentinel_tui.baseline.snapshot import load_baseline
    from sentinel_tui.textsafe import clean

    b = load_baseline(args.name, baselines_dir(args))
    if args.format == "json":
        print(json.dumps(b.to_json(), indent=2, ensure_ascii=False))
        return 0
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from sentinel_tui.report.text import fmt_num, make_console

    console = make_console()
    src = b.meta.get("source") or {}
    console.print(Text(f"baseline {clean(b.name)}  ({clean(b.path)})", style="bold"))
    if b.frames is not None:
        from sentinel_tui.cli.frame_commands import describe_frames

        for line in describe_frames(b.frames):
            console.print(Text(line))
    if not b.has_table:
        return 0
    plain = not console.is_terminal  # piped or logged: ASCII, as check's report
    more = "..." if plain else "…"
    console.print(Text(f"source {clean(src.get('file'))}  sha256 {src.get('sha256', '')[:16]}{more}  "
                       f"{src.get('rows')} rows  sample {src.get('sample_rows')} rows  "
                       f"format v{b.meta.get('format_version')}  created {b.meta.get('created_at')}  "
                       f"by sentinel-tui {b.meta.get('tool_version')}"))
    t = Table(show_edge=False, box=box.ASCII if plain else box.HEAVY_HEAD)
    for col in ("column", "type", "role", "null rate", "distinct", "min", "mean", "max", "top values"):
        t.add_column(col, overflow="fold")
    for c in b.columns.values():
        top = ", ".join(f"{k}" for k in list(c.categories)[:4]) if c.type != "numeric" else ""
        t.add_row(Text(clean(c.name)), c.type, c.role, f"{c.null_rate * 100:.1f}%", str(c.distinct),
                  fmt_num(c.min), fmt_num(c.mean), fmt_num(c.max), Text(clean(top)))
    console.print(t)
    return 0


def cmd_baseline_list(args: argparse.Namespace) -> int:
    from sentinel_tui.baseline.snapshot import list_baselines
    from sentinel_tui.textsafe import clean

    rows = list_baselines(baselines_dir(args))
    if not rows:
        print(f"no baselines in {baselines_dir(args)}/", file=sys.stderr)
        return 0
    for r in rows:
        if "error" in r:
            print(f"{clean(r['name'])}\t{r['error']}")
        else:
            frames = f"\t{r['frames']} frames" if r.get("frames") else ""
            print(f"{clean(r['name'])}\t{r['rows']} rows\t{r['columns']} columns{frames}\tcreated {r['created_at']}")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from sentinel_tui.cli.watch import watch

    return watch(args)


def cmd_alerts(args: argparse.Namespace) -> int:
    from sentinel_tui.cli.alerts import cmd_alerts as run

    return run(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from sentinel_tui.cli.serve import serve

    return serve(args)


def cmd_simulate(args: argparse.Namespace) -> int:
    from sentinel_tui.simulate.tabular import SCENARIOS, run_simulation

    if args.kind == "frames":
        from sentinel_tui.simulate.frame_batches import FRAME_SCENARIOS, run_frame_simulation

        if args.scenario not in FRAME_SCENARIOS:
            return fail(f"unknown frame scenario {args.scenario!r} (choose from {', '.join(FRAME_SCENARIOS)})")
        run_frame_simulation(Path(args.directory), scenario=args.scenario, batches=args.batches,
                             frames=args.frames, size=args.size, rate=args.rate, drift_after=args.drift_after,
                             seed=args.seed, fmt=args.image_format, severity=args.severity,
                             reference=Path(args.reference) if args.reference else None)
        return 0
    if args.scenario not in SCENARIOS:
        return fail(f"unknown scenario {args.scenario!r} (choose from {', '.join(SCENARIOS)})")
    run_simulation(Path(args.directory), scenario=args.scenario, batches=args.batches, rows=args.rows,
                   rate=args.rate, drift_after=args.drift_after, seed=args.seed,
                   reference=Path(args.reference) if args.reference else None, features=args.features,
                   label_delay=args.label_delay)
    return 0


COMMANDS = ("baseline", "check", "watch", "alerts", "serve", "simulate")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` only that command's arguments (``sentinel check`` then does not
    build the parsers it never uses: argparse spends about 0.1 ms per argument)."""
    from sentinel_tui import __version__

    def wanted(name: str) -> bool:
        return command is None or command == name

    p = _Parser(prog="sentinel", description="Model monitoring in the terminal: schema validation, drift "
                "and alerts for batches of model inputs and outputs.",
                epilog="Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage, config, baseline).")
    p.add_argument("--version", action="version", version=f"sentinel-tui {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--baselines-dir", metavar="DIR", help="where named baselines live (default: "
                        "./baselines or $SENTINEL_BASELINES)")
        sp.add_argument("--config", type=Path, metavar="FILE",
                        help="sentinel.toml with thresholds, column roles and alert actions "
                        "(default: $SENTINEL_CONFIG, else ./sentinel.toml if present)")

    def engine(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--engine", choices=("local", "dask"),
                        help="where the work runs: local (default) or dask (a cluster; see --scheduler; "
                        "needs the dask extra)")
        sp.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler to use, e.g. tcp://host:8786 "
                        "(implies --engine dask; default: a LocalCluster sized to this machine)")

    def analysis(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--alpha", type=float, help="family-wise false-alarm rate per batch (default 0.005)")
        sp.add_argument("--max-file-mb", type=float, help="refuse larger files with a finding (default 512)")
        sp.add_argument("--delimiter", help="field delimiter (default ',')")

    if wanted("baseline"):
        b = sub.add_parser("baseline", help="create, show or list baseline snapshots")
        bsub = b.add_subparsers(dest="baseline_command", metavar="ACTION", parser_class=_Parser, required=True)
        bc = bsub.add_parser("create", help="snapshot a reference CSV and/or reference frames as a named baseline")
        bc.add_argument("reference", nargs="?", help="reference table (model inputs, predictions, labels): a CSV, "
                        "a Parquet or Arrow IPC/Feather file or dataset directory, or a URL (s3://...)")
        bc.add_argument("--frames", metavar="REF_DIR",
                        help="reference frames: images (any depth) and .npy/.npz arrays under REF_DIR")
        bc.add_argument("--input-size", type=int, metavar="PX", help="MobileNetV2 input size, 96-224 (default 224)")
        bc.add_argument("--weights", help="auto (ImageNet if cached, else random), imagenet, random or a weights file")
        bc.add_argument("--pca-components", type=int, metavar="K", help="PCA components for embedding drift (32)")
        bc.add_argument("--name", required=True, help="baseline name (letters, digits, . _ -)")
        bc.add_argument("--target", help="ground-truth label column")
        bc.add_argument("--prediction", help="model prediction column (class or value)")
        bc.add_argument("--score", help="positive-class probability column (binary classification)")
        bc.add_argument("--proba-prefix", metavar="PREFIX",
                        help="per-class probability columns named PREFIX + class (multiclass ROC AUC, log loss)")
        bc.add_argument("--task", choices=("binary", "multiclass", "regression"),
                        help="model task (default: inferred from the target)")
        bc.add_argument("--id", help="row id column (never drift-tested)")
        bc.add_argument("--timestamp", help="event time column (never drift-tested)")
        bc.add_argument("--categorical", action="append", metavar="COLS",
                        help="treat these columns as categorical (comma-separated, repeatable)")
        bc.add_argument("--ignore", action="append", metavar="COLS", help="columns to ignore entirely")
        bc.add_argument("--delimiter", help="field delimiter (default ',')")
        bc.add_argument("--force", action="store_true", help="replace an existing baseline of that name")
        engine(bc)
        common(bc)
        bc.set_defaults(func=cmd_baseline_create)
        bs = bsub.add_parser("show", help="print a baseline's schema and statistics")
        bs.add_argument("name", help="baseline name or directory")
        bs.add_argument("--format", choices=("text", "json"), default="text")
        common(bs)
        bs.set_defaults(func=cmd_baseline_show)
        bl = bsub.add_parser("list", help="list the baselines")
        common(bl)
        bl.set_defaults(func=cmd_baseline_list)

    if wanted("check"):
        c = sub.add_parser("check", help="check batch files against a baseline (stateless)")
        c.add_argument("files", nargs="+", help="batches: CSV, Parquet or Arrow IPC files, Parquet dataset "
                       "directories or URLs (s3://...), frame directories or .npy/.npz frame arrays")
        c.add_argument("--weights", help="refuse unless the baseline's frames were embedded with these weights")
        c.add_argument("--baseline", required=True, help="baseline name or directory")
        c.add_argument("--format", choices=("text", "json", "markdown", "plugin"), default="text",
                       help="text (default), json, markdown, or plugin (Nagios/Icinga: a status line with "
                       "performance data, then the details)")
        c.add_argument("-v", "--verbose", action="store_true",
                       help="text: the feature table of every batch, every feature (default: one line per OK batch)")
        c.add_argument("--exit-zero", action="store_true", help="exit 0 whatever the verdict (report only)")
        engine(c)
        analysis(c)
        common(c)
        from sentinel_tui.cli.check_command import cmd_check

        c.set_defaults(func=cmd_check)

    def following(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("directory", help="directory the model-serving system writes batches into")
        env_baseline = os.environ.get("SENTINEL_BASELINE") or None
        sp.add_argument("--baseline", required=env_baseline is None, default=env_baseline,
                        help="baseline name or directory (default: $SENTINEL_BASELINE)")
        sp.add_argument("--state-dir", metavar="DIR", help="history store location (default: DIR/.sentinel)")
        sp.add_argument("--poll", action="store_true", help="poll the directory (network file systems)")
        sp.add_argument("--quiet-period", type=float, metavar="S",
                        help="seconds a file must be unchanged to count as complete (default 1)")
        sp.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus /metrics and /health on this port (default: off)")
        sp.add_argument("--metrics-host", metavar="HOST",
                        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 in a container)")
        sp.add_argument("--weights", help="refuse unless the baseline's frames were embedded with these weights")
        analysis(sp)
        common(sp)

    if wanted("watch"):
        w = sub.add_parser("watch", help="watch a directory for new batches (dashboard, --headless or --once)")
        mode = w.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true",
                          help="process what is new since the last run, print a report, exit 0/1/2/3 (cron)")
        mode.add_argument("--headless", action="store_true",
                          help="follow without a UI: one line per batch and per alert change")
        w.add_argument("--format", choices=("text", "json", "markdown", "plugin", "jsonl"), default="text",
                       help="--once: text, json, markdown or plugin (Nagios/Icinga); --headless: text or jsonl")
        w.add_argument("-v", "--verbose", action="store_true",
                       help="--once text: the feature table of every batch (default: one line per OK batch)")
        w.add_argument("--exit-zero", action="store_true", help="--once: exit 0 whatever the status")
        w.add_argument("--theme", choices=("dark", "light"), default="dark", help="dashboard theme (default dark)")
        following(w)
        w.set_defaults(func=cmd_watch)

    if wanted("alerts"):
        al = sub.add_parser("alerts", help="list the open alerts of a watched directory, or acknowledge them",
                            description="List open alerts (exit status as --once: 0/1/2) or acknowledge them. "
                            "Acknowledging an alert about a file that could not be read closes it.")
        al.add_argument("directory", help="the watched directory")
        al.add_argument("action", nargs="?", choices=("list", "ack"), default="list",
                        help="list (default) or ack")
        al.add_argument("ids", nargs="*", type=int, metavar="ID", help="ack: the alert ids (#N in the list)")
        al.add_argument("--all", action="store_true", help="list: recent history too; ack: every open alert")
        al.add_argument("--limit", type=int, default=100, help="list --all: how many recent alerts (default 100)")
        al.add_argument("--format", choices=("text", "json", "plugin"), default="text",
                        help="list: text, json, or plugin (Nagios/Icinga: a running monitor's state as a check)")
        al.add_argument("--state-dir", metavar="DIR", help="history store location (default: DIR/.sentinel)")
        al.set_defaults(func=cmd_alerts)

    if wanted("serve"):
        v = sub.add_parser("serve", help="watch a directory and serve the dashboard to web browsers (textual-serve)")
        v.add_argument("--host", default="127.0.0.1",
                       help="address to serve on (default 127.0.0.1; there is no authentication)")
        v.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
        v.add_argument("--public-url", metavar="URL", help="URL browsers use, when behind a proxy")
        v.add_argument("--theme", choices=("dark", "light"), default="dark", help="dashboard theme (default dark)")
        following(v)
        v.set_defaults(func=cmd_serve)

    if wanted("simulate"):
        s = sub.add_parser("simulate", help="write a synthetic model-serving stream of CSV or frame batches")
        s.add_argument("directory", help="directory to write batches into (created if missing)")
        s.add_argument("--kind", choices=("table", "frames"), default="table", help="CSV batches or frame batches")
        s.add_argument("--scenario", default="healthy",
                       help="table: healthy, covariate, gradual, missing, new_category, schema_break, concept, "
                            "corrupt; frames: healthy, blur, noise, low_light, colour_cast, occlusion")
        s.add_argument("--frames", type=int, default=64, help="frames: frames per batch (default 64)")
        s.add_argument("--size", type=int, default=128, help="frames: frame width and height in pixels")
        s.add_argument("--image-format", choices=("png", "jpg", "npy"), default="png",
                       help="frames: write directories of PNG/JPEG images or .npy arrays")
        s.add_argument("--severity", type=float, default=1.0, help="frames: corruption strength in (0, 1]")
        s.add_argument("--batches", type=int, default=20)
        s.add_argument("--rows", type=int, default=1000, help="rows per batch")
        s.add_argument("--rate", type=float, default=0.0, help="batches per second (0: as fast as possible)")
        s.add_argument("--drift-after", type=int, default=0, help="healthy batches before the scenario starts")
        s.add_argument("--features", type=int, default=0, help="extra numeric features (for wide tables)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--label-delay", type=int, default=0, metavar="N",
                       help="write labels as batch_NNNNN.labels.csv N batches after their batch (default: inline)")
        s.add_argument("--reference", help="also write the matching reference (table: a CSV file at this path; "
                       "frames: a directory of reference frames)")
        s.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    plugin_format(getattr(args, "format", None) == "plugin")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_UNKNOWN
    from sentinel_tui.baseline.snapshot import BaselineError
    from sentinel_tui.config import ConfigError
    from sentinel_tui.io.locations import MissingFilesystem

    try:
        return args.func(args)
    except (BaselineError, ConfigError, MissingFilesystem) as exc:
        return fail(str(exc))
    except BrokenPipeError:
        # The reader went away (`sentinel baseline list | head -1`): not an error of ours. Commands with a status
        # (check, watch --once, alerts) catch it themselves and exit with that status.
        stdout_to_devnull()
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 (never a traceback: monitoring reads exit 1 as WARNING)
        if os.environ.get("SENTINEL_DEBUG"):
            import traceback

            traceback.print_exc()
        return fail(f"internal error: {exc!r} (SENTINEL_DEBUG=1 shows the traceback)")


if __name__ == "__main__":
    sys.exit(main())
