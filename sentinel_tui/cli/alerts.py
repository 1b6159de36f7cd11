"""``sentinel alerts DIR``: see and acknowledge a watched directory's alerts without the dashboard.

Reads the same store as the running monitor (SQLite in WAL mode: reading never blocks it). An acknowledgement
written here reaches a running monitor's subscribers (dashboard, actions, metrics) within seconds.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from sentinel_tui.cli.common import fail, writing_report


def _open_store(args: argparse.Namespace):
    from sentinel_tui.cli.common import store_problem
    from sentinel_tui.engine.store import DB_NAME, Store, StoreError

    state_dir = Path(args.state_dir) if args.state_dir else Path(args.directory) / ".sentinel"
    if not (state_dir / DB_NAME).is_file():
        return fail(f"no alert history in {state_dir} (has 'sentinel watch {args.directory}' run there? "
                     "give --state-dir if it used another one)")
    try:
        return Store(state_dir)
    except (StoreError, OSError, sqlite3.Error) as exc:
        return fail(store_problem(state_dir, exc))


def cmd_alerts(args: argparse.Namespace) -> int:
    from sentinel_tui.cli.common import store_problem

    store = _open_store(args)
    if isinstance(store, int):
        return store
    try:
        if args.action == "ack":
            if args.format == "plugin":
                return fail("--format plugin lists alerts: 'sentinel alerts DIR --format plugin'")
            return _acknowledge(store, args)
        return _list(store, args)
    except sqlite3.Error as exc:
        return fail(store_problem(store.state_dir, exc))
    finally:
        store.close()


def _acknowledge(store, args: argparse.Namespace) -> int:
    from sentinel_tui.textsafe import clean

    if args.all == bool(args.ids):
        return fail("give the ids of the alerts to acknowledge, or --all (every open alert)")
    targets = [a.id for a in store.open_alerts() if a.status == "open"] if args.all else args.ids
    failed = 0
    for alert_id in targets:
        before = store.alert(alert_id)
        if before is None or before.status != "open":
            state = "no such alert" if before is None else f"already {before.status}"
            print(f"sentinel: alert #{alert_id}: {state}", file=sys.stderr)
            failed += 1
            continue
        after = store.acknowledge(alert_id)
        what = "closed (file alert)" if after.status == "resolved" else "acknowledged"
        print(f"#{alert_id} {what}: {after.kind} {clean(after.subject)}")
    return 3 if failed else 0


def _list(store, args: argparse.Namespace) -> int:
    """The open alerts (and with ``--all`` the history) in any format; the exit status is the open alerts'
    status whatever the format, and whether or not the reader stays to the end."""
    from sentinel_tui.engine.view import MonitorView
    from sentinel_tui.events import alerts_document, status_of_alerts
    from sentinel_tui.model import iso_utc
    from sentinel_tui.textsafe import clean

    plugin = args.format == "plugin"
    view = MonitorView.load(store, history=100 if plugin else 1, alert_history=args.limit if args.all else 0)
    open_alerts = view.open_alerts()
    history = view.alert_history if args.all else None
    status = status_of_alerts(open_alerts)
    with writing_report():
        if plugin:
            from sentinel_tui.report.plugin import watch_output
            from sentinel_tui.textsafe import fs_text

            sys.stdout.write(watch_output(None, status, open_alerts, view, fs_text(str(args.directory))))
        elif args.format == "json":
            doc = alerts_document(open_alerts, history)
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        else:
            shown = history if history is not None else open_alerts
            acknowledged = sum(a.status == "acknowledged" for a in open_alerts)
            lines = [f"{status.label.upper()}  {len(open_alerts)} open alert{'s' if len(open_alerts) != 1 else ''}"
                     + (f" ({acknowledged} acknowledged)" if acknowledged else "")]
            for a in shown:
                when = iso_utc(a.resolved_at if a.status == "resolved" else a.opened_at)
                lines.append(f"#{a.id:<5} {a.severity:<8} {a.status:<12} {a.kind:<16} {clean(a.subject)}  x{a.count}"
                             f"  {'resolved' if a.status == 'resolved' else 'since'} {when}  {clean(a.message)}")
            sys.stdout.write("".join(line + "\n" for line in lines))
    return int(status)
