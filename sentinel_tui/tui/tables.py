"""Tables keyed by row and fitted to their width: the alerts, the alert log and the batches."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from sentinel_tui.tui.fit import CELL_PADDING, ColumnSpec, fit_columns

Cells = dict[str, Any]  # column key -> cell
ROW_LABEL = ""  # the key of a row's label in its cells (a table with ROW_LABEL_WIDTH > 0 shows labels)


def cell_width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


class KeyedTable(DataTable):
    """Rows keyed and written in place (only the cells that changed); columns shown by priority and sized to
    the width (``COLUMNS``), laid out again when the width or a content-sized column's widest cell changes.
    Rows keep the order they are given in; the cursor stays on its row."""

    COLUMNS: tuple[ColumnSpec, ...] = ()
    ROW_LABEL_WIDTH = 0  # > 0: a fixed-width mark before each row (its label, padded to this width)
    DEFAULT_CSS = """
    KeyedTable { overflow-x: hidden; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(cursor_type="row", show_row_labels=self.ROW_LABEL_WIDTH > 0, **kwargs)
        self._keyed_rows: dict[str, Cells] = {}
        self._keyed_layout: list[tuple[ColumnSpec, int]] = []
        self._keyed_row_keys: dict[str, RowKey] = {}

    def set_rows(self, rows: dict[str, Cells]) -> None:
        old = self._keyed_rows
        self._keyed_rows = dict(rows)
        if self._relayout():
            return
        kept = [k for k in old if k in rows]
        added = [k for k in rows if k not in old]
        if list(rows)[:len(kept)] != kept:  # reordered: write them again in the new order
            self._rebuild()
            return
        for key in [k for k in old if k not in rows]:
            self.remove_row(self._keyed_row_keys.pop(key))
        if any(not same_cell(old[k].get(ROW_LABEL, ""), rows[k].get(ROW_LABEL, "")) for k in kept):
            self._rebuild()  # a label cannot be written in place
            return
        for key in kept:
            before, cells = old[key], rows[key]
            if before is cells:
                continue
            for spec, _ in self._keyed_layout:
                value = cells.get(spec.key, "")
                if not same_cell(before.get(spec.key, ""), value):
                    self.update_cell(self._keyed_row_keys[key], spec.key, value)
        for key in added:
            self._add(key)

    def row_at_cursor(self) -> str | None:
        """The key of the row under the cursor."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    def on_resize(self, event: events.Resize) -> None:  # DataTable's own handler (_on_resize) runs too
        self._relayout()

    def _available(self) -> int:
        label = self.ROW_LABEL_WIDTH + CELL_PADDING if self.ROW_LABEL_WIDTH else 0
        return self.size.width - self.styles.scrollbar_size_vertical - label  # room kept for the scrollbar

    def _relayout(self) -> bool:
        """Lay the columns out again if the width or the content asks for another layout."""
        widest: dict[str, int] = {}
        for spec in self.COLUMNS:
            if not spec.fixed and not spec.flex:
                widest[spec.key] = max((cell_width(c.get(spec.key, "")) for c in self._keyed_rows.values()),
                                       default=0)
        # Not laid out yet (a tab not shown has no size): the terminal's width until it is.
        available = self._available() if self.size.width > 0 else self.app.size.width
        layout = fit_columns(self.COLUMNS, available, widest)
        if layout == self._keyed_layout:
            return False
        self._keyed_layout = layout
        self._rebuild()
        return True

    def _rebuild(self) -> None:
        cursor = self.row_at_cursor()
        self.clear(columns=True)
        self._keyed_row_keys = {}
        for spec, width in self._keyed_layout:
            self.add_column(spec.label, key=spec.key, width=width)
        for key in self._keyed_rows:
            self._add(key)
        if cursor in self._keyed_row_keys:
            self.move_cursor(row=self.get_row_index(self._keyed_row_keys[cursor]))

    def _add(self, key: str) -> None:
        cells = self._keyed_rows[key]
        label = cells.get(ROW_LABEL) if self.ROW_LABEL_WIDTH else None
        if isinstance(label, Text):
            label = label.copy()
            label.pad_right(self.ROW_LABEL_WIDTH - label.cell_len)
        elif label is not None:
            label = f"{label:<{self.ROW_LABEL_WIDTH}}"
        self._keyed_row_keys[key] = self.add_row(*(cells.get(spec.key, "") for spec, _ in self._keyed_layout),
                                                 key=key, label=label)


def same_cell(a: Any, b: Any) -> bool:
    """Whether two cell values draw the same. ``Text.__eq__`` compares text and spans but not the base style
    (a row dims when its alert is acknowledged), so that is compared too."""
    if type(a) is not type(b) or a != b:
        return False
    return not isinstance(a, Text) or (a.style == b.style and a.justify == b.justify and a.overflow == b.overflow
                                       and a.no_wrap == b.no_wrap)
