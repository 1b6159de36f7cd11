"""The Alerts, Alert log and Batches tables: keyed rows, columns by priority, messages taking the width left.

An alert's row ends its message with an ellipsis where it does not fit: Enter opens the alert's detail with the
whole of it. An acknowledged alert's row is dimmed and marked ``ack`` in a fixed-width mark before it.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message

from sentinel_tui.engine.alert_history import SEVERITY_RANK
from sentinel_tui.engine.view import BatchSummary
from sentinel_tui.events import Alert, AlertEvent
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.fit import ColumnSpec
from sentinel_tui.tui.tables import ROW_LABEL, Cells, KeyedTable
from sentinel_tui.tui.widgets import SEVERITY_STYLE

ACK_MARK = "ack"


class AckRequest(Message):
    """Acknowledge (or withdraw the acknowledgement of) one alert: from the Alerts table or an alert's detail."""

    def __init__(self, alert_id: int | None, acknowledge: bool = True):
        super().__init__()
        self.alert_id, self.acknowledge = alert_id, acknowledge


def _cell(text: str, style: str = "", dim: bool = False) -> Text:
    return Text(text, style=f"dim {style}".strip() if dim else style, no_wrap=True, overflow="ellipsis")


def alert_cells(a: Alert) -> Cells:
    dim = a.status == "acknowledged"
    return {ROW_LABEL: Text(ACK_MARK, style="bold") if dim else "", "id": _cell(str(a.id), "", dim),
            "severity": _cell(a.severity, SEVERITY_STYLE.get(a.severity, ""), dim), "kind": _cell(a.kind, "", dim),
            "subject": _cell(clean(a.subject), "", dim), "count": _cell(str(a.count), "", dim),
            "message": _cell(clean(a.message), "", dim)}


class AlertTable(KeyedTable):
    """Open alerts, acknowledged ones included (dimmed, marked). ``a`` / ``u`` act on the alert under the cursor,
    only while this table has focus."""

    COLUMNS = (ColumnSpec("id", "id", 4), ColumnSpec("severity", "severity", 8),
               ColumnSpec("kind", "kind", 16, 2, fixed=False), ColumnSpec("subject", "subject", 24, 1, fixed=False),
               ColumnSpec("count", "count", 5, 3), ColumnSpec("message", "message", 0, flex=24))
    ROW_LABEL_WIDTH = len(ACK_MARK)
    BINDINGS = [Binding("enter", "select_cursor", "Details"), Binding("a", "acknowledge", "Ack"),
                Binding("u", "unacknowledge", "Unack")]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.statuses: dict[str, str] = {}  # row key -> the alert's status

    def show(self, alerts: dict[int, Alert]) -> None:
        self.statuses = {str(i): a.status for i, a in alerts.items()}
        self.set_rows({str(i): alert_cells(a) for i, a in sorted(alerts.items())})
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``a`` is offered on an open alert, ``u`` on an acknowledged one (the other key says why not)."""
        key = self.row_at_cursor() if action in ("acknowledge", "unacknowledge") else None
        if action == "acknowledge":
            return self.statuses.get(key or "") == "open"
        if action == "unacknowledge":
            return self.statuses.get(key or "") == "acknowledged"
        return True

    def on_data_table_row_highlighted(self) -> None:
        self.refresh_bindings()

    def alert_at_cursor(self) -> int | None:
        key = self.row_at_cursor()
        return int(key) if key is not None else None

    def action_acknowledge(self) -> None:
        self.post_message(AckRequest(self.alert_at_cursor(), acknowledge=True))

    def action_unacknowledge(self) -> None:
        self.post_message(AckRequest(self.alert_at_cursor(), acknowledge=False))


def log_cells(event: AlertEvent, clock_format: str) -> Cells:
    a = event.alert
    change = event.change
    if change == "updated" and event.previous_severity is not None and event.previous_severity != a.severity:
        up = SEVERITY_RANK.get(a.severity, 0) > SEVERITY_RANK.get(event.previous_severity, 0)
        change = "escalated" if up else "de-escalated"
    return {"time": _cell(datetime.fromtimestamp(event.when).strftime(clock_format)),
            "change": _cell(change, "bold" if change in ("opened", "escalated") else ""),
            "severity": _cell(a.severity, SEVERITY_STYLE.get(a.severity, "")), "kind": _cell(a.kind),
            "subject": _cell(clean(a.subject), "bold"), "message": _cell(clean(a.message))}


class AlertLogTable(KeyedTable):
    """Alert changes, newest at the bottom, each at its own time (an acknowledgement at the acknowledgement's)."""

    COLUMNS = (ColumnSpec("time", "time", 8, fixed=False), ColumnSpec("change", "change", 14, fixed=False),
               ColumnSpec("severity", "severity", 8, 2), ColumnSpec("kind", "kind", 16, 3, fixed=False),
               ColumnSpec("subject", "subject", 24, 1, fixed=False), ColumnSpec("message", "message", 0, flex=20))
    BINDINGS = [Binding("enter", "select_cursor", "Details")]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.alert_ids: dict[str, int] = {}  # row key -> the alert it is about
        self.events: dict[str, Cells] = {}
        self.drawn = 0  # changes ever appended (the view's alert_log_total when last drawn)

    def show(self, log: list[AlertEvent], total: int, clock_format: str) -> None:
        """Append the changes not drawn yet (the log is bounded: the oldest rows go as the view drops them)."""
        new = min(total - self.drawn, len(log))
        first = total - len(log)  # the sequence number of the oldest change kept
        for seq, event in zip(range(total - new, total), log[len(log) - new:], strict=True):
            self.events[str(seq)] = log_cells(event, clock_format)
            self.alert_ids[str(seq)] = event.alert.id
        for key in [k for k in self.events if int(k) < first]:
            del self.events[key]
            del self.alert_ids[key]
        self.drawn = total
        follow = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        self.set_rows(self.events)
        if follow and self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def alert_at_cursor(self) -> int | None:
        key = self.row_at_cursor()
        return self.alert_ids.get(key) if key is not None else None


class BatchTable(KeyedTable):
    COLUMNS = (ColumnSpec("file", "file", 0, flex=16), ColumnSpec("rows", "rows", 8, 1),
               ColumnSpec("status", "status", 8), ColumnSpec("latency", "latency", 9, 2))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.drawn_from: dict[str, tuple[BatchSummary, Cells]] = {}  # a batch's cells, made once

    def show(self, batches: list[BatchSummary]) -> None:
        rows = {}
        for b in batches:
            key = str(b.batch_id)
            made = self.drawn_from.get(key)
            if made is None or made[0] is not b:
                latency = f"{b.latency * 1000:.0f} ms" if b.latency is not None else "-"
                made = self.drawn_from[key] = (b, {
                    "file": _cell(clean(b.file.rsplit("/", 1)[-1])), "rows": str(b.rows),
                    "status": Text(b.status, style=SEVERITY_STYLE.get(b.status, "green")), "latency": latency})
            rows[key] = made[1]
        self.drawn_from = {k: v for k, v in self.drawn_from.items() if k in rows}
        follow = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        self.set_rows(rows)
        if follow and self.row_count:
            self.move_cursor(row=self.row_count - 1)
