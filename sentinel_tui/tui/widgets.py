"""Dashboard widgets. Every string from data is wrapped in ``rich.text.Text`` (never parsed as markup)
after ``textsafe.clean`` (control characters made visible)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Label, Sparkline
from textual.widgets.data_table import ColumnKey, RowKey

from sentinel_tui.model import FeatureDrift, Status
from sentinel_tui.report.text import fmt_num, fmt_p
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.state import DashboardState, trend_blocks

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
    if state.viewer:
        t.append("  VIEWER ", style="bold")
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


class Line(Widget):
    """One line of text. ``set`` repaints without a layout pass (``Static.update`` lays the screen out
    again, which cost 0.17 s per redraw with a 1,000-row table on screen)."""

    DEFAULT_CSS = "Line { height: 1; width: 1fr; }"

    def __init__(self, text: Text | str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self._text = text

    def set(self, text: Text | str) -> None:
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text | str:
        return self._text


class StatusBar(Line):
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
        yield Line("", classes="value")

    def show(self, values: list[float]) -> None:
        has = bool(values)
        if has != self.has_class("has-data"):
            self.set_class(has, "has-data")
        if not has:
            return
        self.query_one(Sparkline).data = list(values)
        last = values[-1]
        text = f"{last * 100:.0f}%" if self.unit == "%" else f"{last:,.0f}{self.unit}"
        self.query_one(".value", Line).set(Text(text, justify="right"))


def feature_sort_key(mode: str, f: FeatureDrift, name: str) -> tuple:
    effect = f.effect_size if math.isfinite(f.effect_size) else -1.0
    if mode == "effect":
        return (-effect, name)
    if mode == "p-value":
        return (f.p_value if math.isfinite(f.p_value) else 2.0, name)
    if mode == "name":
        return (name,)
    sev = int(f.severity) if f.drifted and f.severity is not None else 0
    return (-sev, -effect, name)


def feature_cells(name: str, f: FeatureDrift, trend: list[float]) -> tuple[Any, ...]:
    sev = f.severity.label if f.drifted and f.severity is not None else None
    style = SEVERITY_STYLE.get(sev or "", "")
    state = sev.upper() if sev else "ok"
    return (Text(clean(name), style=style, no_wrap=True, overflow="ellipsis"), Text(state, style=style),
            fmt_num(f.effect_size), trend_blocks(trend, f.effect_threshold), fmt_p(f.p_value),
            fmt_num(f.statistic), f.test, f.logical_type)


class FeatureTable(DataTable):
    """Rows keyed by feature and updated cell by cell; never cleared on a new batch."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, width in FEATURE_COLUMNS:
            self.add_column(label, key=label, width=width)
        self._cache: dict[str, tuple] = {}
        self._order: list[str] = []

    def sync(self, rows: dict[str, tuple], order: list[str]) -> None:
        for key in [k for k in self._cache if k not in rows]:
            self.remove_row(key)
            del self._cache[key]
        changed: list[tuple[str, tuple]] = []
        for key, cells in rows.items():
            old = self._cache.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            elif old is not cells:
                changed.append((key, cells))
            self._cache[key] = cells
        self._set_rows(changed)
        if order != self._order:
            rank = {clean(k): i for i, k in enumerate(order)}
            self.sort("feature", key=lambda cell: rank.get(cell.plain if isinstance(cell, Text) else str(cell), 0))
            self._order = list(order)

    def _set_rows(self, changed: list[tuple[str, tuple]]) -> None:
        """Many rows, one repaint. ``update_cell`` repaints the widget once per cell (measured: 4,000 changed
        cells of a 1,000-feature table took 0.3 s that way); where DataTable's storage is as expected we
        write the cells and repaint once, otherwise fall back to ``update_cell``."""
        if not changed:
            return
        data = getattr(self, "_data", None)
        if isinstance(data, dict) and hasattr(self, "_update_count"):
            columns = [ColumnKey(label) for label, _ in FEATURE_COLUMNS]
            for row, cells in changed:
                stored = data[RowKey(row)]
                for column, value in zip(columns, cells, strict=True):
                    stored[column] = value
            self._update_count += 1
            self.refresh()
            return
        for row, cells in changed:
            for (label, _), value in zip(FEATURE_COLUMNS, cells, strict=True):
                self.update_cell(row, label, value)

