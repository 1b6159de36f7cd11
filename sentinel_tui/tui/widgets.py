"""Dashboard widgets. Every string from data is wrapped in ``rich.text.Text`` (never parsed as markup)
after ``textsafe.clean`` (control characters made visible)."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from sentinel_tui.model import FeatureDrift, Status
from sentinel_tui.report.text import fmt_num, fmt_p
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.fit import ColumnSpec, fit_columns, fit_fields
from sentinel_tui.tui.state import DashboardState, TrendRow, batch_age, scaled_blocks, trend_blocks
from sentinel_tui.tui.tables import cell_width, same_cell

TRAFFIC_LIGHT = {Status.OK: ("OK", "bold black on green"), Status.WARNING: ("WARNING", "bold black on yellow"),
         Status.CRITICAL: ("CRITICAL", "bold white on red"), Status.UNKNOWN: ("UNKNOWN", "bold white on magenta")}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}
# Shown by priority (0 first): an 80-column terminal shows name, verdict, effect size and trend; the rest is in
# the feature's detail screen (Enter).
FEATURE_COLUMNS = (ColumnSpec("feature", "feature", 24, 0, fixed=False), ColumnSpec("status", "status", 8, 0),
                   ColumnSpec("effect", "effect", 7, 1), ColumnSpec("trend", "trend", 12, 2),
                   ColumnSpec("p-value", "p-value", 8, 3), ColumnSpec("statistic", "statistic", 9, 4),
                   ColumnSpec("test", "test", 16, 5, fixed=False), ColumnSpec("type", "type", 11, 6, fixed=False))
BAR = " │ "


def status_fields(state: DashboardState, paused: bool, now: float, clock_fmt: str = "%H:%M:%S"
                  ) -> list[tuple[int, Text, str]]:
    """The status bar's fields, each with its priority (0 is kept longest): the traffic light, the alert count,
    PAUSED/VIEWER and the last batch's age first; rows/s and the directory go first when space is short."""
    label, style = TRAFFIC_LIGHT[state.status]
    n = len(state.alerts)
    acked = sum(1 for a in state.alerts.values() if a.status == "acknowledged")
    count = f"{n} alert{'s' if n != 1 else ''}" + (f" ({acked} acknowledged)" if acked else "")
    fields = [(0, Text(f" ● {label} ", style=style), ""), (1, Text(count), " ")]
    if paused:
        fields.append((2, Text(" PAUSED ", style="bold reverse"), "  "))
    if state.viewer:
        fields.append((2, Text(" VIEWER ", style="bold"), "  "))
    if state.last_batch_at is not None:
        fields.append((3, Text("last batch " + batch_age(state.last_batch_at, now, clock_fmt)), BAR))
    stats = state.stats
    if stats is not None:
        fields.append((4, Text(f"{stats.batches} batches"), BAR))
        if stats.rows_per_second is not None:
            fields.append((6, Text(f"{stats.rows_per_second:,.0f} rows/s"), BAR))
    fields.append((5, Text(f"baseline {clean(state.baseline)}"), BAR))
    fields.append((7, Text(clean(state.directory)), BAR))
    return fields


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


class FieldsLine(Widget):
    """One line of fields fitted to the width by priority (``fit.fit_fields``) each time it is drawn."""

    DEFAULT_CSS = "FieldsLine { height: 1; width: 1fr; }"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._fields: list[tuple[int, Text, str]] = []

    def set(self, fields: list[tuple[int, Text, str]]) -> None:
        if fields != self._fields or [f[1].style for f in fields] != [f[1].style for f in self._fields]:
            self._fields = fields
            self.refresh()

    def render(self) -> Text:
        return fit_fields(self._fields, self.size.width)


class StatusBar(FieldsLine):
    DEFAULT_CSS = "StatusBar { height: 1; width: 1fr; background: $panel; }"


class TrendPanel(Widget):
    """One trend: its name, blocks of the recent values on the row's scale (one block per value, the newest on
    the right), the current value and its reference or threshold. Hidden until it has data. The columns of
    every trend line up (``columns``, from ``trend_columns``); where the width is short the names shorten, then
    the references go, and the blocks keep at least ``MIN_BLOCKS`` cells."""

    DEFAULT_CSS = """
    TrendPanel { height: 1; width: 1fr; display: none; }
    TrendPanel.has-data { display: block; }
    """
    MIN_BLOCKS = 4

    def __init__(self, title: str, *, id: str):
        super().__init__(id=id)
        self.title = title
        self.row: TrendRow | None = None
        self.columns = (len(title), len(title), 0, 0)

    def show(self, row: TrendRow, columns: tuple[int, int, int, int]) -> None:
        has = bool(row.values)
        if has != self.has_class("has-data"):
            self.set_class(has, "has-data")
        if has and (row != self.row or columns != self.columns):
            self.row, self.columns, self.title = row, columns, row.title
            self.refresh()

    def render(self) -> Text:
        row = self.row
        if row is None:
            return Text("")
        long_name, short_name, value, note = self.columns
        width = self.size.width
        for name, shown_note in ((long_name, note), (short_name, note), (long_name, 0), (short_name, 0)):
            cells = width - name - value - 2 - (shown_note + 1 if shown_note else 0)
            if cells >= self.MIN_BLOCKS:
                break
        title = row.title if name == long_name else row.short_title
        cells = max(0, cells)
        out = Text(no_wrap=True, overflow="crop", end="")
        out.append(f"{title:<{name}} ")
        out.append(f"{scaled_blocks(row.values, row.low, row.high, cells):<{cells}}", style="cyan")
        out.append(f" {row.value:>{value}}", style="bold")
        if shown_note:
            out.append(f" {row.note if len(row.note) <= shown_note else '':>{shown_note}}", style="dim")
        return out


def trend_columns(rows: list[TrendRow]) -> tuple[int, int, int, int]:
    """The widths of the trend lines' columns: name, short name, value, note. The notes' column is as wide as
    the widest reference; a range (rows/s, latency) shows where it fits in it."""
    shown = [r for r in rows if r.values]
    notes = [len(r.note) for r in shown if r.note and not r.optional_note] or [len(r.note) for r in shown]
    return (max((len(r.title) for r in shown), default=0), max((len(r.short_title) for r in shown), default=0),
            max((len(r.value) for r in shown), default=0), max(notes, default=0))


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

    Columns are shown by priority (``FEATURE_COLUMNS``) in the width there is, the rest are in the feature's
    detail screen; they are laid out again (the table rebuilt) only when the width or the widest name changes.

    Public DataTable API only (``add_row``, ``remove_row``, ``update_cell``, ``sort``): nothing here reads or
    writes DataTable's private storage, so a Textual upgrade can make it slower at worst, never wrong. Its own
    attributes are named ``_feature_*``, away from names DataTable may take for itself."""

    DEFAULT_CSS = "FeatureTable { overflow-x: hidden; scrollbar-size-vertical: 1; }"
    # The keys that act on the features, offered (in the footer too) while the table has focus.
    BINDINGS = [Binding("enter", "select_cursor", "Details"), Binding("slash", "app.filter", "Filter"),
                Binding("s", "app.cycle_sort", "Sort")]
    _feature_hold = False  # True while ``_feature_write`` runs: see ``refresh``

    def __init__(self, **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._feature_layout: list[tuple[ColumnSpec, int]] = []
        self._feature_shown: list[int] = []  # indexes into FEATURE_COLUMNS (and each row's cells) shown
        # The keys add_column and add_row return, passed back to update_cell: the very objects the table
        # stores, so its lookups are identity hits instead of a new key per call compared by value.
        self._feature_columns: list[ColumnKey] = []
        self._feature_keys: dict[str, RowKey] = {}
        self._feature_cells: dict[str, tuple] = {}
        self._feature_order: list[str] = []  # the order of the rows in the table
        self._feature_wanted: list[str] = []  # the order last asked for
        self._feature_widest: dict[str, int] = {}

    def sync(self, rows: dict[str, tuple], order: list[str]) -> None:
        self._feature_wanted = order
        for key in [k for k in self._feature_cells if k not in rows]:
            self.remove_row(self._feature_keys.pop(key))
            del self._feature_cells[key]
        changed: list[tuple[str, tuple, tuple]] = []
        added: list[str] = []
        for key, cells in rows.items():
            old = self._feature_cells.get(key)
            if old is None:
                added.append(key)
                for i, spec in enumerate(FEATURE_COLUMNS):
                    if not spec.fixed:
                        self._feature_widest[spec.key] = max(self._feature_widest.get(spec.key, 0),
                                                             cell_width(cells[i]))
            elif old is not cells:
                changed.append((key, old, cells))
            self._feature_cells[key] = cells
        if self._feature_relayout(order):
            return  # written whole
        for key in added:
            self._feature_add(key)
        self._feature_write(changed)
        if order != self._feature_order:
            rank = {clean(k): i for i, k in enumerate(order)}
            self.sort("feature", key=lambda cell: rank.get(cell.plain if isinstance(cell, Text) else str(cell), 0))
            self._feature_order = list(order)

    def on_resize(self, event: events.Resize) -> None:  # DataTable's own handler (_on_resize) runs too
        self._feature_relayout(self._feature_wanted)

    def _feature_relayout(self, order: list[str]) -> bool:
        """Lay the columns out again (and write every row) if the width or the widest name asks for another
        layout; False if the layout stays."""
        # Room kept for the scrollbar; not laid out yet (no size): the terminal's width until it is.
        width = (self.size.width or self.app.size.width) - self.styles.scrollbar_size_vertical
        layout = fit_columns(FEATURE_COLUMNS, width, self._feature_widest)
        if layout == self._feature_layout:
            return False
        cursor = self.cursor_row
        self._feature_layout = layout
        self._feature_shown = [FEATURE_COLUMNS.index(spec) for spec, _ in layout]
        self.clear(columns=True)
        self._feature_columns = [self.add_column(spec.label, key=spec.key, width=w) for spec, w in layout]
        self._feature_keys = {}
        self._feature_order = [k for k in order if k in self._feature_cells]
        for key in self._feature_order:
            self._feature_add(key)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))
        return True

    def _feature_add(self, key: str) -> None:
        cells = self._feature_cells[key]
        self._feature_keys[key] = self.add_row(*(cells[i] for i in self._feature_shown), key=key)

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
                for column_key, i in zip(self._feature_columns, self._feature_shown, strict=True):
                    if not same_cell(old[i], cells[i]):
                        self.update_cell(row_key, column_key, cells[i])
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
