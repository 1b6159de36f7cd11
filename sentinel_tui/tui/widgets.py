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

TRAFFIC_LIGHT = {Status.OK: ("OK", "bold black on green"), Status.WARNING: ("WARNING", "bold black on yellow"),
         Status.CRITICAL: ("CRITICAL", "bold white on red"), Status.UNKNOWN: ("UNKNOWN", "bold white on magenta")}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}
# Most telling first, so an 80-column terminal shows name, verdict, effect size and trend without scrolling.
FEATURE_COLUMNS = (("feature", 16), ("status", 8), ("effect", 7), ("trend", 12), ("p-value", 8),
                   ("statistic", 9), ("test", 16), ("type", 11))


def status_text(state: DashboardState, paused: bool, clock_fmt: str = "%H:%M:%S") -> Text:
    label, style = TRAFFIC_LIGHT[state.status]
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


class TextLine(Widget):
    """One line of text. ``set`` repaints without a layout pass (``Static.update`` lays the screen out
    again, which cost 0.17 s per redraw with a 1,000-row table on screen)."""

    DEFAULT_CSS = "TextLine { height: 1; width: 1fr; }"

    def __init__(self, text: Text | str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self._text = text

    def set(self, text: Text | str) -> None:
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text | str:
        return self._text


class StatusBar(TextLine):
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
        yield TextLine("", classes="value")

    def show(self, values: list[float]) -> None:
        has = bool(values)
        if has != self.has_class("has-data"):
            self.set_class(has, "has-data")
        if not has:
            return
        self.query_one(Sparkline).data = list(values)
        last = values[-1]
        text = f"{last * 100:.0f}%" if self.unit == "%" else f"{last:,.0f}{self.unit}"
        self.query_one(".value", TextLine).set(Text(text, justify="right"))


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
    """Rows keyed by feature and updated cell by cell; never cleared on a new batch.

    Public DataTable API only (``add_row``, ``remove_row``, ``update_cell``, ``sort``): nothing here reads or
    writes DataTable's private storage, so a Textual upgrade can make it slower at worst, never wrong. Its own
    attributes are named ``_feature_*``, away from names DataTable may take for itself."""

    _feature_hold = False  # True while ``_feature_write`` runs: see ``refresh``

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        # The keys add_column and add_row return, passed back to update_cell: the very objects the table
        # stores, so its lookups are identity hits instead of a new key per call compared by value.
        self._feature_columns: list[ColumnKey] = [self.add_column(label, key=label, width=width)
                                              for label, width in FEATURE_COLUMNS]
        self._feature_keys: dict[str, RowKey] = {}
        self._feature_cells: dict[str, tuple] = {}
        self._feature_order: list[str] = []

    def sync(self, rows: dict[str, tuple], order: list[str]) -> None:
        for key in [k for k in self._feature_cells if k not in rows]:
            self.remove_row(self._feature_keys.pop(key))
            del self._feature_cells[key]
        changed: list[tuple[str, tuple, tuple]] = []
        for key, cells in rows.items():
            old = self._feature_cells.get(key)
            if old is None:
                self._feature_keys[key] = self.add_row(*cells, key=key)
            elif old is not cells:
                changed.append((key, old, cells))
            self._feature_cells[key] = cells
        self._feature_write(changed)
        if order != self._feature_order:
            rank = {clean(k): i for i, k in enumerate(order)}
            self.sort("feature", key=lambda cell: rank.get(cell.plain if isinstance(cell, Text) else str(cell), 0))
            self._feature_order = list(order)

    def _feature_write(self, changed: list[tuple[str, tuple, tuple]]) -> None:
        """Many cells, one repaint. Only the cells whose value differs are written, with ``update_cell``;
        the plain ``refresh()`` it asks for after every cell (measured: 8,000 cells of a 1,000-feature table
        took 0.11-0.17 s that way, two thirds of it in those refreshes) is asked for once, at the end."""
        if not changed:
            return
        self._feature_hold = True
        try:
            for row, old, cells in changed:
                row_key = self._feature_keys[row]
                for column_key, before, value in zip(self._feature_columns, old, cells, strict=True):
                    if not _same_cell(before, value):
                        self.update_cell(row_key, column_key, value)
        finally:
            self._feature_hold = False
        self.refresh()

    def refresh(self, *regions: Any, **kwargs: Any) -> Any:
        """``Widget.refresh`` is documented as idempotent ("only one refresh will be done even if this method
        is called multiple times"), so while ``_feature_write`` writes cells the plain calls are dropped and
        ``_feature_write`` makes one afterwards; calls with regions or options always go through."""
        if self._feature_hold and not regions and not kwargs:
            return self
        return super().refresh(*regions, **kwargs)


def _same_cell(a: Any, b: Any) -> bool:
    """Whether two cell values draw the same. ``Text.__eq__`` compares text and spans but not the base style
    (a feature's name changes colour with its severity), so that is compared too."""
    if type(a) is not type(b) or a != b:
        return False
    return not isinstance(a, Text) or (a.style == b.style and a.justify == b.justify and a.overflow == b.overflow
                                       and a.no_wrap == b.no_wrap)
