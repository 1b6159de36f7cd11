"""The prediction tables of the store: predictions kept until their labels arrive, label files, and the bounds
that keep them small. Every function runs within the caller's transaction (``Store.transaction``) or, for
reads, on a reading connection."""

from __future__ import annotations

import sqlite3

from sentinel_tui.textsafe import fs_text

LABELLED_ORDER = "ORDER BY labelled_at DESC, batch_id DESC, row_index DESC"


def store_predictions(db: sqlite3.Connection, rows: list[tuple]) -> int:
    """Store predictions; returns how many labelled rows are new (a row id seen again, a replayed batch, keeps
    its first prediction and label and is no new evidence)."""
    sql = ("INSERT OR IGNORE INTO predictions (row_id, batch_id, row_index, prediction, score, label, "
           "created_at, labelled_at, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    labelled = [r for r in rows if r[7] is not None]
    before = db.total_changes
    db.executemany(sql, labelled)
    added = db.total_changes - before
    db.executemany(sql, [r for r in rows if r[7] is None])
    return added


def apply_labels(db: sqlite3.Connection, labels: list[tuple[str, str]], now: float) -> tuple[int, int, int]:
    """Join labels to stored predictions by id; returns (matched, unmatched, newly labelled). Unmatched ids
    are counted, never silently dropped: the caller reports them. Only newly labelled rows are new evidence
    for the performance window (a replayed label file is not)."""
    matched = newly = 0
    for row_id, label in labels:
        cur = db.execute("UPDATE predictions SET label = ?, labelled_at = ? WHERE row_id = ? AND label IS NULL",
                         (label, now, row_id))
        if cur.rowcount:
            matched += 1
            newly += 1
        elif db.execute("SELECT 1 FROM predictions WHERE row_id = ?", (row_id,)).fetchone():
            matched += 1  # labelled already (a replayed label file): known, not lost
    return matched, len(labels) - matched, newly


def prune(db: sqlite3.Connection, horizon_hours: float, now: float, max_pending: int, keep_labelled: int,
          by_count: bool = True) -> int:
    """Keep the store bounded: labelled rows beyond the newest ``keep_labelled`` are no longer needed (the
    window and the change detector look no further back); predictions still waiting for a label go after
    ``horizon_hours`` or beyond the newest ``max_pending``."""
    removed = db.execute("DELETE FROM predictions WHERE created_at < ? AND label IS NULL",
                         (now - horizon_hours * 3600,)).rowcount
    if not by_count:
        return removed
    for labelled, limit, order in ((True, keep_labelled, "labelled_at"), (False, max_pending, "created_at")):
        where = "label IS NOT NULL" if labelled else "label IS NULL"
        # Delete in slices of a quarter of the limit, so this runs now and then, not on every batch.
        count = db.execute(f"SELECT COUNT(*) FROM predictions WHERE {where}").fetchone()[0]
        if count > limit * 1.25:
            cutoff = db.execute(f"SELECT {order} FROM predictions WHERE {where} ORDER BY {order} DESC "
                                "LIMIT 1 OFFSET ?", (limit,)).fetchone()
            if cutoff is not None:
                # strictly older: rows sharing the cut-off time (one batch) are kept together
                removed += db.execute(f"DELETE FROM predictions WHERE {where} AND {order} < ?",
                                      (cutoff[0],)).rowcount
    return removed


def record_label_file(db: sqlite3.Connection, file_id: int, path: str, rows: int, matched: int, unmatched: int,
                      now: float) -> None:
    db.execute("INSERT OR REPLACE INTO label_files (file_id, path, rows, matched, unmatched, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", (file_id, fs_text(path), rows, matched, unmatched, now))
    db.execute("UPDATE files SET status = 'done', processed_at = ? WHERE id = ?", (now, file_id))


def labelled_rows(db: sqlite3.Connection, limit: int, features: bool = False) -> list[sqlite3.Row]:
    """The newest ``limit`` labelled rows, newest first: (batch_id, row_index, prediction, score, label
    [, features])."""
    columns = "batch_id, row_index, prediction, score, label" + (", features" if features else "")
    return db.execute(f"SELECT {columns} FROM predictions WHERE label IS NOT NULL {LABELLED_ORDER} LIMIT ?",
                      (limit,)).fetchall()
