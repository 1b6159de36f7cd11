"""`sentinel check`: batches against a baseline, on this machine or on a Dask cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sentinel_tui.cli.common import (
    baseline_info,
    baselines_dir,
    fail,
    settings_from,
    verify_weights_arg,
    writing_report,
)


def cmd_check(args: argparse.Namespace) -> int:
    from sentinel_tui.baseline.snapshot import load_baseline
    from sentinel_tui.engine.allocator import tune_allocator
    from sentinel_tui.engine.pipeline import analyse_path
    from sentinel_tui.model import Status
    from sentinel_tui.report.json_report import build_report, dumps, overall_status

    tune_allocator()
    settings = settings_from(args)
    baseline = load_baseline(args.baseline, baselines_dir(args))
    verify_weights_arg(args, baseline, settings)
    if settings.engine.name == "dask":
        from sentinel_tui.engine.dask_engine import ClusterError, check_on_cluster, cluster_client
        from sentinel_tui.io.columnar import is_table_location
        from sentinel_tui.io.csv_reader import compression_of

        try:
            with cluster_client(settings) as client:
                # CSV and frames stay local: the cluster reads Parquet and Arrow files and datasets
                results = [check_on_cluster(f, baseline, settings, client)
                           if is_table_location(f) and compression_of(Path(str(f))) is None
                           else analyse_path(f, baseline, settings) for f in args.files]
        except ClusterError as exc:
            return fail(str(exc))
    else:
        results = [analyse_path(f, baseline, settings) for f in args.files]
    overall = overall_status(results)
    with writing_report():
        if args.format == "json":
            sys.stdout.write(dumps(build_report(results, baseline_info(baseline))) + "\n")
        elif args.format == "markdown":
            from sentinel_tui.report.text import render_markdown

            sys.stdout.write(render_markdown(results, overall, baseline.name))
        elif args.format == "plugin":
            from sentinel_tui.report.plugin import check_output

            sys.stdout.write(check_output(results, overall))
        else:
            from sentinel_tui.report.text import make_console, render_text

            render_text(results, overall, baseline.name, make_console(), verbose=args.verbose)
    return 0 if args.exit_zero else int(overall if overall != Status.UNKNOWN else Status.UNKNOWN)
