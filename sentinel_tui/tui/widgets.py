"""Dashboard widgets. Every string from data is wrapped in ``rich.text.Text`` (never parsed as markup)
after ``textsafe.clean`` (control characters made visible)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Sparkline, Static

from ..model import Status
from ..report.text import fmt_num, fmt_p
from ..textsafe import clean
from .state import SEVERITY_RANK, DashboardState, trend_blocks

LIGHT = {Status.OK: ("OK", "bold black on green"), Status.WARNING: ("WARNING", "bold black on yellow"),
         Status.CRITICAL: ("CRITICAL", "bold white on red"), Status.UNKNOWN: ("UNKNOWN", "bold white on magenta")}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}
# Most telling first, so an 80-column terminal shows name, verdict, effect size and trend without scrolling.
FEATURE_COLUMNS = (("feature", 16), ("status", 8), ("effect", 7), ("trend", 12), ("p-value", 8),
                   ("statistic", 9), ("test", 16), ("type", 11))


def status_text(state: DashboardState, paused: bool, clock_fmt: str = "%H:%M:%S") -> Text:
    label, style = LIGHT[state.status]
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f" ● {label} ", style=style)
    n = len(state.alerts)
    t.append(f" {n} alert{'s' if n != 1 else ''}")
    if paused:
        t.append("  PAUSED ", style="bold reverse")
    stats = state.stats
    parts = [clean(state.directory), f"baseline {clean(state.baseline)}"]
    if stats is not None:
        parts.append(f"{stats.batches} batches")
        if stats.rows_per_second is not None:
            parts.append(f"{stats.rows_per_second:,.0f} rows/s")
    if state.last_batch_at is not None:
        parts.append("last " + datetime.fromtimestamp(state.last_batch_at).strftime(clock_fmt))
    t.append("  │ " + " │ ".join(parts), style="")
    return t


class StatusBar(Static):
    DEFAULT_CSS = "StatusBar { height: 1; width: 1fr; background: $panel; }"


class TrendPanel(Horizontal):
    """A sparkline with its current value beside it (a sparkline alone scales to its own min and max)."""

    DEFAULT_CSS = """
    TrendPanel { height: 1; display: none; }
    TrendPanel.has-data { display: block; }
    TrendPanel > Label { width: 12; }
    TrendPanel > Sparkline { width: 1fr; height: 1; }
    TrendPanel > .value { width: 10; text-align: right; }
    """

    def __init__(self, title: str, unit: str, *, id: str):
        super().__init__(id=id)
        self.title, self.unit = title, unit

    def compose(self) -> ComposeResult:
        yield Label(self.title)
        yield Sparkline([], summary_function=max)
        yield Label("", classes="value")

    def show(self, values: list[float]) -> None:
        if not values:
            self.remove_class("has-data")
            return
        self.add_class("has-data")
        self.query_one(Sparkline).data = list(values)
        last = values[-1]
        text = f"{last * 100:.0f}%" if self.unit == "%" else f"{last:,.0f}{self.unit}"
        self.query_one(".value", Label).update(text)


def feature_sort_key(mode: str, f: dict[str, Any], name: str) -> tuple:
    effect = f.get("effect_size")
    effect = effect if effect is not None else -1.0
    p = f.get("p_value")
    if mode == "effect":
        return (-effect, name)
    if mode == "p-value":
        return (p if p is not None else 2.0, name)
    if mode == "name":
        return (name,)
    sev = SEVERITY_RANK.get(f.get("severity") or "", 0) if f.get("drifted") else 0
    return (-sev, -effect, name)


def feature_cells(name: str, f: dict[str, Any], trend: list[float]) -> tuple[Any, ...]:
    drifted = f.get("drifted")
    sev = f.get("severity") if drifted else None
    style = SEVERITY_STYLE.get(sev or "", "")
    state = (sev or "").upper() if drifted else "ok"
    return (Text(clean(name), style=style, no_wrap=True, overflow="ellipsis"), Text(state, style=style),
            fmt_num(f.get("effect_size")), trend_blocks(trend, f.get("effect_threshold") or 0.0),
            fmt_p(f.get("p_value")), fmt_num(f.get("statistic")), f.get("test", ""), f.get("type", ""))


class FeatureTable(DataTable):
    """Rows keyed by feature and updated cell by cell; never cleared on a new batch."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, width in FEATURE_COLUMNS:
            self.add_column(label, key=label, width=width)
        self._cache: dict[str, tuple] = {}

    def sync(self, rows: dict[str, tuple], order: list[str]) -> None:
        for key in [k for k in self._cache if k not in rows]:
            self.remove_row(key)
            del self._cache[key]
        for key, cells in rows.items():
            old = self._cache.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            else:
                for (label, _), new, before in zip(FEATURE_COLUMNS, cells, old, strict=True):
                    if _same(new, before):
                        continue
                    self.update_cell(key, label, new)
            self._cache[key] = cells
        rank = {clean(k): i for i, k in enumerate(order)}
        self.sort("feature", key=lambda cell: rank.get(cell.plain if isinstance(cell, Text) else str(cell), 0))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style
    return a == b
