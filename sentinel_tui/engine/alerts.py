"""Alert rules: turn each batch's alert records into opened / updated / resolved alerts.

An alert is keyed by (kind, subject), e.g. (drift, income). It opens after K consecutive failing batches
(K per severity), is updated (count, last seen, current severity and message) while it keeps failing,
and resolves after ``resolve_after`` consecutive batches without it. The streak counters live in the
store, so a restart continues them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from ..config import AlertSettings
from ..model import Alert, AlertEvent, AlertRecord, Severity

Key = tuple[str, str]


def _threshold(severity: Severity, s: AlertSettings) -> int:
    return max(1, s.open_after_critical if severity == Severity.CRITICAL else s.open_after_warning)


def _open(db: sqlite3.Connection, key: Key, rec: AlertRecord, now: float, count: int,
          batch_id: int | None) -> AlertEvent:
    cur = db.execute(
        "INSERT INTO alerts (kind, subject, severity, message, status, opened_at, updated_at, count,"
        " first_batch_id, last_batch_id) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)",
        (key[0], key[1], rec.severity.label, rec.message, now, now, count, batch_id, batch_id))
    return AlertEvent("opened", Alert(
        id=int(cur.lastrowid), kind=key[0], subject=key[1], severity=rec.severity.label,
        message=rec.message, status="open", opened_at=now, updated_at=now, resolved_at=None,
        acknowledged_at=None, count=count, first_batch_id=batch_id, last_batch_id=batch_id))


def _update(db: sqlite3.Connection, alert: Alert, rec: AlertRecord, now: float, batch_id: int | None) -> AlertEvent:
    db.execute("UPDATE alerts SET count = count + 1, updated_at = ?, last_batch_id = COALESCE(?, last_batch_id),"
               " severity = ?, message = ? WHERE id = ?", (now, batch_id, rec.severity.label, rec.message, alert.id))
    previous = alert.severity
    alert.count += 1
    alert.updated_at, alert.severity, alert.message = now, rec.severity.label, rec.message
    if batch_id is not None:
        alert.last_batch_id = batch_id
    return AlertEvent("updated", alert, previous_severity=previous)


def _resolve(db: sqlite3.Connection, alert: Alert, now: float) -> AlertEvent:
    db.execute("UPDATE alerts SET status = 'resolved', resolved_at = ?, updated_at = ? WHERE id = ?",
               (now, now, alert.id))
    alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
    return AlertEvent("resolved", alert)


def apply_alert_rules(db: sqlite3.Connection, batch_id: int, records: list[AlertRecord],
                      settings: AlertSettings, now: float | None = None,
                      scope: Callable[[Key], bool] | None = None) -> list[AlertEvent]:
    """Within the caller's transaction; returns the changes to publish. ``scope`` limits which alerts this
    evaluation may open, update or resolve: a label file speaks only about performance, and a frame batch
    says nothing about a CSV feature (nor a CSV batch about the cameras)."""
    now = time.time() if now is None else now
    failing: dict[Key, AlertRecord] = {}
    for r in records:
        key = (r.kind.value, r.subject)
        if key not in failing or r.severity > failing[key].severity:
            failing[key] = r
    streaks = {(row["kind"], row["subject"]): (row["failing"], row["clean"])
               for row in db.execute("SELECT * FROM alert_streaks").fetchall()}
    open_alerts = {(row["kind"], row["subject"]): Alert(**dict(row)) for row in db.execute(
        "SELECT * FROM alerts WHERE status IN ('open', 'acknowledged')").fetchall()}
    if scope is not None:
        streaks = {k: v for k, v in streaks.items() if scope(k)}
        open_alerts = {k: v for k, v in open_alerts.items() if scope(k)}
    events: list[AlertEvent] = []

    def save(key: Key, f: int, c: int) -> None:
        db.execute("INSERT INTO alert_streaks (kind, subject, failing, clean) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (kind, subject) DO UPDATE SET failing = excluded.failing, clean = excluded.clean",
                   (key[0], key[1], f, c))

    for key, rec in failing.items():
        f, _ = streaks.get(key, (0, 0))
        f += 1
        save(key, f, 0)
        alert = open_alerts.get(key)
        if alert is not None:
            events.append(_update(db, alert, rec, now, batch_id))
        elif f >= _threshold(rec.severity, settings):
            events.append(_open(db, key, rec, now, f, batch_id))

    for key in (set(streaks) | set(open_alerts)) - set(failing):
        alert = open_alerts.get(key)
        _, c = streaks.get(key, (0, 0))
        c += 1
        if alert is None:
            db.execute("DELETE FROM alert_streaks WHERE kind = ? AND subject = ?", key)
        elif c >= settings.resolve_after:
            db.execute("DELETE FROM alert_streaks WHERE kind = ? AND subject = ?", key)
            events.append(_resolve(db, alert, now))
        else:
            save(key, 0, c)
    return events


def set_condition(db: sqlite3.Connection, key: Key, record: AlertRecord | None,
                  now: float | None = None) -> AlertEvent | None:
    """An alert about the monitor itself rather than a batch (a failing alert action): opened at once while
    ``record`` is given, resolved at once when it is None. Batches never open or resolve these."""
    now = time.time() if now is None else now
    row = db.execute("SELECT * FROM alerts WHERE kind = ? AND subject = ? AND status IN ('open', 'acknowledged')",
                     key).fetchone()
    alert = Alert(**dict(row)) if row else None
    if record is None:
        return _resolve(db, alert, now) if alert is not None else None
    if alert is not None:
        return _update(db, alert, record, now, None)
    return _open(db, key, record, now, 1, None)


FRAMES_SUBJECT = "(frames)"  # pipeline and data-quality alerts about frame batches as a whole
TABLE_SUBJECT = "(table)"


def is_frames_key(key: Key) -> bool:
    return key[0] == "embedding" or key[1] == FRAMES_SUBJECT


_ACTION_PREFIX = "(action "


def action_subject(name: str) -> str:
    """The subject of the pipeline alert raised while alert action ``name`` fails."""
    return f"{_ACTION_PREFIX}{name})"


def is_monitor_key(key: Key) -> bool:
    """Alerts about the monitor itself (``set_condition``), e.g. "(action slack)": no batch speaks for them."""
    return key[0] == "pipeline" and key[1].startswith(_ACTION_PREFIX)


def scope_for(kind: str) -> Callable[[Key], bool]:
    """The alerts a batch of this kind (table | frames) may change. Alerts about one file are shared."""
    if kind == "frames":
        return lambda key: not is_monitor_key(key) and (
            is_frames_key(key) or (key[0] == "pipeline" and key[1] != TABLE_SUBJECT))
    return lambda key: not is_frames_key(key) and not is_monitor_key(key)
