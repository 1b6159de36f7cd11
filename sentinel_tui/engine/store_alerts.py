"""The alert tables of the store: the alert book's state and the writes of its judgements, within the caller's
transaction (``Store.transaction``)."""

from __future__ import annotations

import sqlite3
import time

from sentinel_tui.engine.alertbook import Judgement, Key, Streak, is_file_key
from sentinel_tui.events import Alert, AlertEvent
from sentinel_tui.model import AlertRecord


def book(db: sqlite3.Connection) -> tuple[dict[Key, Alert], dict[Key, Streak]]:
    """The alert book's state within a transaction: open alerts by key, and the streaks."""
    rows = db.execute("SELECT * FROM alerts WHERE status IN ('open', 'acknowledged')").fetchall()
    streaks = db.execute("SELECT * FROM alert_streaks").fetchall()
    return ({(r["kind"], r["subject"]): Alert(**dict(r)) for r in rows},
            {(r["kind"], r["subject"]): (r["failing"], r["clean"]) for r in streaks})


def apply_judgement(db: sqlite3.Connection, j: Judgement, batch_id: int | None, now: float) -> list[AlertEvent]:
    """Within the caller's transaction: write what the alert book decided; returns the changes to publish."""
    for key, (f, c) in j.streaks.items():
        db.execute("INSERT INTO alert_streaks (kind, subject, failing, clean) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (kind, subject) DO UPDATE SET failing = excluded.failing, clean = excluded.clean",
                   (key[0], key[1], f, c))
    for key in j.cleared:
        db.execute("DELETE FROM alert_streaks WHERE kind = ? AND subject = ?", key)
    events = [_update(db, alert, rec, now, batch_id) for alert, rec in j.updated]
    events += [_open(db, key, rec, now, count, batch_id) for key, rec, count in j.opened]
    events += [_resolve(db, alert, now) for alert in j.resolved]
    return events


def set_condition(db: sqlite3.Connection, key: Key, record: AlertRecord | None,
                  now: float | None = None) -> AlertEvent | None:
    """An alert about the monitor itself rather than a batch (a failing alert action): opened at once while
    ``record`` is given, resolved at once when it is None. Batches never open or resolve these."""
    now = time.time() if now is None else now
    row = db.execute("SELECT * FROM alerts WHERE kind = ? AND subject = ? AND status IN ('open', "
                     "'acknowledged')", key).fetchone()
    alert = Alert(**dict(row)) if row else None
    if record is None:
        return _resolve(db, alert, now) if alert is not None else None
    if alert is not None:
        return _update(db, alert, record, now, None)
    return _open(db, key, record, now, 1, None)


def insert_resolved(db: sqlite3.Connection, key: Key, record: AlertRecord, opened_at: float,
                    resolved_at: float) -> None:
    """History of a monitor fault that the store could not record while it lasted (it was the store)."""
    db.execute("INSERT INTO alerts (kind, subject, severity, message, status, opened_at, updated_at,"
               " resolved_at, count) VALUES (?, ?, ?, ?, 'resolved', ?, ?, ?, 1)",
               (key[0], key[1], record.severity.label, record.message, opened_at, resolved_at, resolved_at))


def resolve(db: sqlite3.Connection, alerts: list[Alert], now: float) -> list[AlertEvent]:
    for a in alerts:
        db.execute("DELETE FROM alert_streaks WHERE kind = ? AND subject = ?", (a.kind, a.subject))
    return [_resolve(db, a, now) for a in alerts]


def acknowledge(db: sqlite3.Connection, alert_id: int, now: float) -> None:
    """An alert about a file that could not be read is closed by its acknowledgement (resolved, with the
    acknowledgement's time): nothing else would ever close it while the file stays."""
    row = db.execute("SELECT kind, subject FROM alerts WHERE id = ? AND status = 'open'", (alert_id,)).fetchone()
    if row is not None and is_file_key((row["kind"], row["subject"])):
        db.execute("UPDATE alerts SET status = 'resolved', acknowledged_at = ?, resolved_at = ?,"
                   " updated_at = ? WHERE id = ?", (now, now, now, alert_id))
        db.execute("DELETE FROM alert_streaks WHERE kind = ? AND subject = ?", (row["kind"], row["subject"]))
    elif row is not None:
        db.execute("UPDATE alerts SET status = 'acknowledged', acknowledged_at = ? WHERE id = ?", (now, alert_id))


def unacknowledge(db: sqlite3.Connection, alert_id: int) -> bool:
    """Withdraw an acknowledgement: the alert is open again, as if never acknowledged (its other times stay).
    Returns whether an acknowledged alert was changed (a resolved one, or one never acknowledged, is not)."""
    cur = db.execute("UPDATE alerts SET status = 'open', acknowledged_at = NULL WHERE id = ? AND status = "
                     "'acknowledged'", (alert_id,))
    return cur.rowcount > 0


def _open(db: sqlite3.Connection, key: Key, rec: AlertRecord, now: float, count: int,
          batch_id: int | None) -> AlertEvent:
    cur = db.execute(
        "INSERT INTO alerts (kind, subject, severity, message, status, opened_at, updated_at, count,"
        " first_batch_id, last_batch_id) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)",
        (key[0], key[1], rec.severity.label, rec.message, now, now, count, batch_id, batch_id))
    return AlertEvent("opened", Alert(
        id=int(cur.lastrowid), kind=key[0], subject=key[1], severity=rec.severity.label,
        message=rec.message, status="open", opened_at=now, updated_at=now, resolved_at=None,
        acknowledged_at=None, count=count, first_batch_id=batch_id, last_batch_id=batch_id), at=now)


def _update(db: sqlite3.Connection, alert: Alert, rec: AlertRecord, now: float, batch_id: int | None) -> AlertEvent:
    db.execute("UPDATE alerts SET count = count + 1, updated_at = ?, last_batch_id = COALESCE(?, last_batch_id),"
               " severity = ?, message = ? WHERE id = ?", (now, batch_id, rec.severity.label, rec.message, alert.id))
    previous = alert.severity
    alert.count += 1
    alert.updated_at, alert.severity, alert.message = now, rec.severity.label, rec.message
    if batch_id is not None:
        alert.last_batch_id = batch_id
    return AlertEvent("updated", alert, previous_severity=previous, at=now)


def _resolve(db: sqlite3.Connection, alert: Alert, now: float) -> AlertEvent:
    db.execute("UPDATE alerts SET status = 'resolved', resolved_at = ?, updated_at = ? WHERE id = ?",
               (now, now, alert.id))
    alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
    return AlertEvent("resolved", alert, at=now)
