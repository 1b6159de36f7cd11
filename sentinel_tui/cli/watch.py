"""``sentinel watch``: the dashboard, ``--headless`` and ``--once``, with alert actions and metrics attached.

One engine per state directory (``Store.claim``): a second dashboard on the same directory opens as a viewer
of the first one's store instead of analysing every batch again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel_tui.cli.common import (
    baseline_info,
    baselines_dir,
    fail,
    settings_from,
    store_problem,
    verify_weights_arg,
    writing_report,
)


@dataclass
class Monitor:
    engine: Any
    baseline: Any
    settings: Any
    store: Any
    directory: Path
    busy: str | None = None  # another process holds the store: why this one may not analyse batches


def open_monitor(args: argparse.Namespace) -> Monitor | int:
    """Settings, baseline, store and engine for ``watch`` and ``serve``, or an exit status after a message."""
    from sentinel_tui.baseline.snapshot import load_baseline
    from sentinel_tui.engine.allocator import tune_allocator
    from sentinel_tui.engine.monitor import Engine
    from sentinel_tui.engine.store import Store, StoreBusy, StoreError

    directory = Path(args.directory)
    if not directory.is_dir():
        return fail(f"watch directory {directory} does not exist or is not a directory")
    settings = settings_from(args)
    if getattr(args, "quiet_period", None) is not None:
        settings.watch.quiet_period = args.quiet_period
    if getattr(args, "metrics_port", None) is not None:
        settings.metrics.port = args.metrics_port
    if getattr(args, "metrics_host", None) is not None:
        settings.metrics.host = args.metrics_host
    baseline = load_baseline(args.baseline, baselines_dir(args))
    verify_weights_arg(args, baseline, settings)
    tune_allocator()
    state_dir = Path(args.state_dir) if args.state_dir else directory / ".sentinel"
    store = None
    try:
        store = Store(state_dir)
        engine = Engine(directory, baseline, settings, store, poll=args.poll)
        busy = None
        try:
            store.claim()
        except StoreBusy as exc:
            busy = f"{exc}; stop it or use another --state-dir"
    except (StoreError, OSError, sqlite3.Error) as exc:
        if store is not None:
            store.close()
        return fail(store_problem(state_dir, exc))
    return Monitor(engine, baseline, settings, store, directory, busy)


def watch(args: argparse.Namespace) -> int:
    from sentinel_tui.integrations.attach import attach

    if args.once and args.metrics_port:
        return fail("--metrics-port needs a monitor that keeps running (--headless or the dashboard); "
                     "--once exits after its report (use --format json for machines)")
    if args.format == "plugin" and not args.once:
        return fail("--format plugin is a check's output: use it with --once (a running monitor's state: "
                    "'sentinel alerts DIR --format plugin')")
    # Under textual-serve (TEXTUAL_DRIVER is its web driver) stdout is a pipe to the browser, not a terminal.
    if not args.once and not args.headless and not sys.stdout.isatty() and not os.environ.get("TEXTUAL_DRIVER"):
        return fail("stdout is not a terminal, so the dashboard cannot be drawn; "
                     "use --headless (follow) or --once (cron)")
    m = open_monitor(args)
    if isinstance(m, int):
        return m
    try:
        if m.busy:
            return fail(m.busy) if args.once or args.headless else _dashboard(m, args, viewer=True)
        integrations = attach(m.engine, m.settings, stderr=args.once or args.headless)
        try:
            if args.once:
                return _watch_once(m, args, integrations)
            if not args.headless:
                return _dashboard(m, args, viewer=False)
            from sentinel_tui.report.headless import HeadlessPrinter

            m.engine.subscribe(HeadlessPrinter("jsonl" if args.format == "jsonl" else "text"))
            asyncio.run(follow(m.engine))
            if m.engine.failure:
                # Stopped while the monitor itself was failing: not a clean run, whatever the data said.
                return fail(f"stopped while the monitor was failing: {m.engine.failure}")
            return 0
        finally:
            integrations.close()
    finally:
        m.store.close()


async def follow(engine: Any, stop: asyncio.Event | None = None) -> None:
    """Run the engine until SIGINT/SIGTERM (or ``stop``), saying on stderr when it is watching (the first scan
    done, the watcher started): from then on a batch that arrives is seen."""
    from sentinel_tui.textsafe import clean, fs_text

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(engine.run(stop))
    ready = asyncio.create_task(engine.ready.wait())
    await asyncio.wait({run, ready}, return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        print(f"sentinel: watching {clean(fs_text(str(engine.directory)))}", file=sys.stderr, flush=True)
    else:
        ready.cancel()
    await run


def _follow_parent() -> None:
    """A browser session's process (under textual-serve) dies with serve, however serve ends (even kill -9):
    it only draws, so there is nothing to save, and an orphan would draw for nobody for ever."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # serve is already gone
        os._exit(0)


def _dashboard(m: Monitor, args: argparse.Namespace, *, viewer: bool) -> int:
    from sentinel_tui.tui.app import SentinelApp

    if viewer and os.environ.get("TEXTUAL_DRIVER"):
        _follow_parent()
    if m.baseline.frames is not None and not viewer:
        # Now, before the dashboard owns the terminal: TensorFlow's import writes to file descriptor 2.
        from sentinel_tui.frames.embedder import preload

        preload()
    SentinelApp(m.engine, directory=str(m.directory), baseline=m.baseline.name, follow=not viewer, viewer=viewer,
                theme="textual-light" if args.theme == "light" else "textual-dark").run()
    return 0


def _watch_once(m: Monitor, args: argparse.Namespace, integrations: Any) -> int:
    from sentinel_tui.events import status_of_alerts

    engine = m.engine

    async def once() -> list:
        events = await engine.run_once()
        if integrations.dispatcher is not None:
            # Deliver before the report: a failed delivery is a pipeline warning of this run, and the loop must
            # still be running to record it.
            await asyncio.to_thread(integrations.dispatcher.close, 60.0)
            await asyncio.sleep(0)
        return events

    try:
        events = asyncio.run(once())
        view = engine.view  # the report reads the monitor view, as every display does
        alerts = view.open_alerts()
    except sqlite3.Error as exc:
        return fail(store_problem(m.store.state_dir, exc))
    results = [e.result for e in events]
    status = status_of_alerts(alerts)
    with writing_report():
        _once_report(args, m, view, results, alerts, status)
    return 0 if args.exit_zero else int(status)


def _once_report(args: argparse.Namespace, m: Monitor, view: Any, results: list, alerts: list, status: Any) -> None:
    baseline = m.baseline
    if args.format == "json":
        from sentinel_tui.report.json_report import build_report, dumps

        report = build_report(results, baseline_info(baseline), mode="watch")
        report["status"], report["exit_code"] = status.label, int(status)
        report["open_alerts"] = [a.to_dict() for a in alerts]
        report["performance"] = view.performance.to_dict() if view.performance is not None else None
        stats = view.stats()
        report["stats"] = {"batches_total": stats.batches, "latency_p50": stats.latency_p50,
                           "latency_p95": stats.latency_p95, "drift_share": stats.drift_share}
        sys.stdout.write(dumps(report) + "\n")
    elif args.format == "markdown":
        from sentinel_tui.report.text import render_alerts_markdown, render_markdown

        sys.stdout.write(render_markdown(results, status, baseline.name) + render_alerts_markdown(alerts))
    elif args.format == "plugin":
        from sentinel_tui.report.plugin import watch_output
        from sentinel_tui.textsafe import fs_text

        sys.stdout.write(watch_output(results, status, alerts, view, fs_text(str(args.directory))))
    else:
        from rich.text import Text

        from sentinel_tui.report.text import make_console, render_alerts, render_text
        from sentinel_tui.textsafe import clean, fs_text

        console = make_console()
        if results:
            render_text(results, status, baseline.name, console, verbose=args.verbose)
        else:  # part of the report (stdout), so that a log of stdout says it, in order
            console.print(Text(f"no new batches in {clean(fs_text(str(args.directory)))}"))
        if view.performance is not None:
            window = view.performance
            console.print(Text(f"performance (window of {window.labelled_rows} labelled rows): "
                               f"{window.status}: {clean(window.message)}"))
        render_alerts(alerts, status, console)
