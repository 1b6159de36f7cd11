"""An alert's detail (Enter on an alert in the Alerts tab or the Alert log): the whole message, first and last
seen, count, the batches involved, the state history with times, the evidence behind it, and acknowledging or
withdrawing an acknowledgement from there. Drawn from the monitor view, again whenever the alerts change."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from sentinel_tui.engine.view import MonitorView
from sentinel_tui.events import Alert
from sentinel_tui.performance.assess import CONFIDENCE
from sentinel_tui.report.text import fmt_num
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.alert_tables import AckRequest
from sentinel_tui.tui.screens import frames_text, stats_table
from sentinel_tui.tui.widgets import SEVERITY_STYLE

CHANGE_STYLE = {"opened": "bold", "escalated": "bold red", "resolved": "green", "acknowledged": "cyan",
                "unacknowledged": "cyan"}


def _time(t: float | None, clock_format: str) -> str:
    return "-" if t is None else datetime.fromtimestamp(t).strftime("%Y-%m-%d " + clock_format)


def _facts(rows: list[tuple[str, Any]]) -> Table:
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    for label, value in rows:
        t.add_row(label, value if isinstance(value, Text) else Text(str(value)))
    return t


def _heading(text: str) -> Text:
    return Text("\n" + text, style="bold underline")


def batch_names(view: MonitorView, ids: list[int]) -> Text:
    """``#id file`` of each batch (the file while the view still keeps the batch)."""
    files = {b.batch_id: b.file.rsplit("/", 1)[-1] for b in view.batches}
    out = Text()
    for i, batch_id in enumerate(ids):
        out.append(", " if i else "")
        out.append(f"#{batch_id}", style="bold")
        if batch_id in files:
            out.append(" " + clean(files[batch_id]))
    return out


def _dataset_test_facts(e: dict | None) -> list[tuple[str, RenderableType | str]]:
    """The dataset-level test: the mean shift (or combined p-value) against its thresholds, and what moved."""
    if not e:
        return []
    fired = Text("fired" if e.get("fired") else "explained by the drifted features" if e.get("explained")
                 else "quiet", style="bold red" if e.get("fired") else "")
    facts = [("dataset test", f"{clean(str(e.get('test')))} over {e.get('dimensions')} dimensions"),
             ("p-value", f"{fmt_num(e.get('p_value'))} (threshold {fmt_num(e.get('p_threshold'))})")]
    if e.get("effect") is not None:
        facts.append(("mean shift", f"{fmt_num(e.get('effect'))} std (threshold {fmt_num(e.get('effect_threshold'))})"))
    moved = ", ".join(clean(str(t.get("feature"))) + (f"={clean(str(t['category']))}" if t.get("category") else "")
                      + f" {t.get('shift_std', 0):+.2f} std" for t in e.get("top") or [])
    return [*facts, ("moved most", moved or "-"), ("test verdict", fired)]


def evidence(view: MonitorView, a: Alert) -> list[RenderableType]:
    """The numbers behind the alert, from the latest results the view holds that concern it."""
    latest_table = next((b for b in reversed(view.batches) if b.drift_share is not None), None)
    source = (f" (latest table batch #{latest_table.batch_id} {clean(latest_table.file.rsplit('/', 1)[-1])})"
              if latest_table is not None else "")
    if a.kind == "drift" and a.subject == "dataset" and view.drift is not None:
        d = view.drift
        drifted = ", ".join(clean(n) for n, f in view.features.items() if f.drifted) or "none"
        return [_heading("evidence" + source), _facts([
            ("drift share", f"{fmt_num(d.share)} ({d.drifted_count} of {d.tested_count} features drifted)"),
            ("threshold", f"dataset drift at a share >= {fmt_num(d.share_threshold)}"
             if math.isfinite(d.share_threshold) else "-"),
            ("verdict", Text("dataset drift" if d.dataset_drift else "no dataset drift",
                             style="bold red" if d.dataset_drift else "green")),
            ("drifted", drifted), *_dataset_test_facts(d.dataset_test)])]
    if a.kind == "drift" and a.subject in view.features:
        return [_heading("evidence" + source), stats_table(a.subject, view.features[a.subject].to_dict())]
    if a.kind == "performance" and view.performance is not None:
        p = view.performance
        m, ref, low_high = p.metrics or {}, p.reference or {}, p.intervals.get(a.subject)
        interval = f"[{fmt_num(low_high[0])}, {fmt_num(low_high[1])}] ({CONFIDENCE:.1%})" if low_high else "-"
        return [_heading(f"evidence (the rolling window of {p.labelled_rows} labelled rows)"), _facts([
            ("metric", clean(a.subject)), ("value", fmt_num(m.get(a.subject))), ("interval", interval),
            ("reference", fmt_num(ref.get(a.subject))),
            ("verdict", Text("degraded" if p.degraded.get(a.subject) else p.status.replace("_", " "),
                             style="bold red" if p.degraded.get(a.subject) else "")),
            ("window", clean(p.message) or "-")])]
    if a.kind == "embedding" and view.frames is not None:
        return [_heading("evidence (latest frame batch)"), frames_text(view.frames)]
    findings = [f for f in view.findings if a.subject in (f.get("column"), f.get("check"))
                or str(f.get("message", "")).startswith(a.subject + ":")]
    if findings:
        out: list[RenderableType] = [_heading("evidence (latest batch's findings)")]
        for f in findings:
            line = Text()
            line.append(f"{f['severity']:<9}", style=SEVERITY_STYLE.get(f["severity"], ""))
            line.append(f"{f['check']}: ", style="bold")
            line.append(clean(f["message"]))
            values = f.get("values") or {}
            if values:
                line.append("\n         " + ", ".join(f"{clean(k)} {clean(v) if isinstance(v, str) else fmt_num(v)}"
                                                   for k, v in values.items()), style="dim")
            out.append(line)
        return out
    return [_heading("evidence"), Text("the latest results the dashboard holds say nothing more about this alert "
                                       "than its message (it may have cleared since)", style="dim")]


def history_table(view: MonitorView, alert_id: int, clock_format: str) -> Table:
    t = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for label in ("time", "change", "severity", "batches", ""):
        t.add_column(label, no_wrap=label != "")
    for s in view.histories.steps.get(alert_id, []):
        change = s.change if s.repeats == 1 else f"{s.change} x{s.repeats}"
        if s.stored and s.change == "updated":
            change = f"last of {s.repeats} update{'s' if s.repeats != 1 else ''}"
        batches = "" if s.batch_id is None else f"#{s.batch_id}"
        if s.last_batch_id is not None and s.last_batch_id != s.batch_id:
            batches += f"-#{s.last_batch_id}"
        note = ""
        if s.until is not None:
            note = f"until {_time(s.until, clock_format)}"
        if s.stored:
            note = (note + " " if note else "") + "(from the stored times)"
        t.add_row(_time(s.at, clock_format), Text(change, style=CHANGE_STYLE.get(s.change, "")),
                  Text(s.severity, style=SEVERITY_STYLE.get(s.severity, "")), batches, Text(note, style="dim"))
    return t


def alert_detail(view: MonitorView, alert_id: int, clock_format: str) -> tuple[Text, RenderableType]:
    """The screen's title line and its body."""
    a = view.alert(alert_id)
    if a is None:
        return Text(f" alert #{alert_id}"), Text("this alert is no longer kept by the dashboard", style="dim")
    title = Text(no_wrap=True, overflow="ellipsis")
    title.append(f" alert #{a.id} ")
    title.append(a.severity.upper(), style=SEVERITY_STYLE.get(a.severity, ""))
    title.append(f" {a.kind} · ")
    title.append(clean(a.subject))
    title.append(f"  {a.status.upper()}", style="bold cyan" if a.status == "acknowledged" else "bold")
    state = {"open": "open", "acknowledged": "open, acknowledged (someone is on it; it still counts for the "
             "traffic light)", "resolved": "resolved"}.get(a.status, a.status)
    batches = view.histories.batches.get(a.id, [])
    facts = [("status", state), ("first seen", _time(a.opened_at, clock_format)),
             ("last seen", _time(a.updated_at, clock_format)),
             ("count", f"{a.count} failing observation{'s' if a.count != 1 else ''}"),
             ("batches", batch_names(view, batches) if batches else "-")]
    if a.acknowledged_at is not None:
        facts.append(("acknowledged", _time(a.acknowledged_at, clock_format)))
    if a.resolved_at is not None:
        facts.append(("resolved", _time(a.resolved_at, clock_format)))
    body = Group(Text("message", style="bold underline"), Text(clean(a.message)), Text(""), _facts(facts),
                 _heading("state history"), history_table(view, a.id, clock_format), *evidence(view, a))
    return title, body


class AlertDetailScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("q", "app.pop_screen", "Back", show=False),
                Binding("a", "acknowledge", "Acknowledge"), Binding("u", "unacknowledge", "Unacknowledge")]
    DEFAULT_CSS = """
    AlertDetailScreen { layout: vertical; }
    AlertDetailScreen .title { background: $panel; text-style: bold; height: 1; }
    AlertDetailScreen #alert-body { margin: 0 1; }
    AlertDetailScreen VerticalScroll { scrollbar-size-vertical: 1; }
    """

    def __init__(self, alert_id: int, view: MonitorView, clock_format: str = "%H:%M:%S"):
        super().__init__()
        self.alert_id, self.view, self.clock_format = alert_id, view, clock_format

    def compose(self) -> ComposeResult:
        yield Static("", classes="title", id="alert-title")
        with VerticalScroll():
            yield Static("", id="alert-body")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        title, body = alert_detail(self.view, self.alert_id, self.clock_format)
        self.title_text, self.body = title, body  # what is drawn (tests read it)
        self.query_one("#alert-title", Static).update(title)
        self.query_one("#alert-body", Static).update(body)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers what applies: acknowledging an open alert, or withdrawing an acknowledgement."""
        a = self.view.alert(self.alert_id)
        if action == "acknowledge":
            return a is not None and a.status == "open"
        if action == "unacknowledge":
            return a is not None and a.status == "acknowledged"
        return True

    def action_acknowledge(self) -> None:
        self.post_message(AckRequest(self.alert_id, acknowledge=True))

    def action_unacknowledge(self) -> None:
        self.post_message(AckRequest(self.alert_id, acknowledge=False))
