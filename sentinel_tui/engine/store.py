"""The history store: SQLite (WAL) in the state directory, the one durable place.

It records each file's identity and processing status, each batch's summary and per-feature statistics,
and alerts. A batch's rows and its file's status change in one transaction, so a crash leaves either the
whole batch or none of it: a file left 'processing' is processed again on restart and appears once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel_tui.engine import store_alerts
from sentinel_tui.engine.alertbook import Key
from sentinel_tui.engine.store_schema import MIGRATIONS, SCHEMA_VERSION, split_sql
from sentinel_tui.events import Alert, AlertEvent
from sentinel_tui.model import AlertRecord, BatchResult
from sentinel_tui.textsafe import fs_text

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, one engine per directory is up to the user
    fcntl = None  # type: ignore[assignment]

DB_NAME = "history.sqlite3"
LOCK_NAME = "engine.lock"



STORE_ERRORS = (sqlite3.Error,)  # errors of the store (see is_store_fault for which are the monitor's)
BUSY_TIMEOUT = 5.0  # seconds a write waits for another client's lock before the batch is retried (backoff)


def is_store_fault(exc: BaseException) -> bool:
    """The store itself fails (locked, full, I/O, corrupt): retry the batch. Other SQLite errors (a constraint,
    a value too big) are caused by the batch: record them as its own failure and go on."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


class StoreError(Exception):
    pass


class StoreBusy(StoreError):
    """Another process is already analysing batches with this state directory."""



@dataclass(frozen=True)
class FileIdentity:
    path: str
    size: int
    mtime: float
    sha256: str
    note: str | None = None  # set for an entry that is not read (FIFO, device, link not followed): why
    target: str | None = None  # a followed symbolic link: the file inside the watched directory to read


class Store:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / DB_NAME
        # One writer: ``self.db`` runs every write, inside ``transaction()`` (under a lock, from whichever thread
        # commits a batch). Reads go through ``reader()``: a connection per thread which, under WAL, sees the
        # last committed state and never a transaction in progress on the writer, and needs no lock.
        # A short busy timeout: the engine retries a locked batch with backoff and reports the lock as a fault.
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
        self.db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not the writer's lock: a read never waits for a commit
        self._claim_fd: int | None = None
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer Sentinel (store schema {version} > "
                             f"{SCHEMA_VERSION}); upgrade sentinel-tui or use another --state-dir")
        for target in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in split_sql(MIGRATIONS[target]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={target + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # A batch's writes run in a worker thread; the lock keeps a transaction from the loop thread (an
        # acknowledgement) from starting inside it on the shared connection.
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def reader(self) -> sqlite3.Connection:
        """This thread's reading connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def claim(self) -> None:
        """The exclusive right to process batches with this store: two engines on one directory would analyse
        every batch twice and race on its alerts. An advisory lock, so it goes away with the process."""
        if self._claim_fd is not None or fcntl is None:
            return
        fd = os.open(self.state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StoreBusy(f"another sentinel (pid {holder}) is already processing batches with the state "
                            f"directory {self.state_dir}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._claim_fd = fd

    def signature(self) -> tuple:
        """Changes whenever a batch, a label file or an alert is written (a viewer polls it); the last field, the
        number of acknowledged alerts, changes when an acknowledgement is withdrawn (which leaves no time)."""
        return tuple(self.reader().execute(
            "SELECT (SELECT MAX(id) FROM batches), (SELECT MAX(file_id) FROM label_files),"
            " (SELECT MAX(updated_at) FROM alerts), (SELECT MAX(acknowledged_at) FROM alerts),"
            " (SELECT COUNT(*) FROM alerts WHERE status = 'acknowledged')").fetchone())

    def acknowledged_since(self, since: float) -> list[Alert]:
        rows = self.reader().execute("SELECT * FROM alerts WHERE acknowledged_at > ? ORDER BY acknowledged_at",
                                     (since,))
        return [Alert(**dict(r)) for r in rows.fetchall()]

    def alerts_changed_since(self, since: float) -> list[Alert]:
        rows = self.reader().execute("SELECT * FROM alerts WHERE updated_at > ? OR acknowledged_at > ? "
                               "ORDER BY updated_at, id", (since, since))
        return [Alert(**dict(r)) for r in rows.fetchall()]

    def close(self) -> None:
        if self._claim_fd is not None:
            os.close(self._claim_fd)  # releases the lock
            self._claim_fd = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()
        self.db.close()

    # files -------------------------------------------------------------------------------------------
    def file_status(self, ident: FileIdentity) -> str | None:
        row = self.reader().execute("SELECT status FROM files WHERE sha256 = ? AND path = ?",
                              (ident.sha256, fs_text(ident.path))).fetchone()
        return row["status"] if row else None

    def known_stat(self, path: str) -> tuple[int, float] | None:
        """(size, mtime) of the latest processed version of ``path``: lets a scan skip hashing it again."""
        row = self.reader().execute("SELECT size, mtime FROM files WHERE path = ? AND status = 'done' "
                              "ORDER BY id DESC LIMIT 1", (fs_text(path),)).fetchone()
        return (row["size"], row["mtime"]) if row else None

    def begin_file(self, ident: FileIdentity, count_attempt: bool = True) -> tuple[int, int]:
        """Mark a file as being processed (committed before analysis starts). Returns its id and how many
        earlier attempts started on it and never finished (the process was killed mid-batch: out of memory, a
        crash in a decoder). ``count_attempt`` False: a retry within this process, which is not a new attempt."""
        with self.transaction() as db:
            row = db.execute("SELECT id, attempts FROM files WHERE sha256 = ? AND path = ?",
                             (ident.sha256, fs_text(ident.path))).fetchone()
            if row:
                db.execute("UPDATE files SET size = ?, mtime = ?, attempts = attempts + ? WHERE id = ?",
                           (ident.size, ident.mtime, int(count_attempt), row["id"]))
                return int(row["id"]), int(row["attempts"])
            cur = db.execute("INSERT INTO files (path, size, mtime, sha256, status, first_seen, attempts) "
                             "VALUES (?, ?, ?, ?, 'processing', ?, 1)",
                             (fs_text(ident.path), ident.size, ident.mtime, ident.sha256, time.time()))
            return int(cur.lastrowid), 0

    def pending_files(self) -> list[str]:
        """Files a crash interrupted: 'processing' with no batch."""
        rows = self.reader().execute("SELECT path FROM files WHERE status = 'processing' ORDER BY id").fetchall()
        return [r["path"] for r in rows]

    # batches -----------------------------------------------------------------------------------------
    def previous_version(self, path: str) -> tuple[int, int, str] | None:
        """(file id, size, sha256) of the latest analysed version of ``path``, if any."""
        row = self.reader().execute("SELECT f.id, f.size, f.sha256 FROM files f JOIN batches b ON b.file_id = f.id "
                              "WHERE f.path = ? ORDER BY f.id DESC LIMIT 1", (fs_text(path),)).fetchone()
        return (int(row[0]), int(row[1]), str(row[2])) if row else None

    @staticmethod
    def replace_earlier(db: sqlite3.Connection, file_id: int) -> list[int]:
        """Within the caller's transaction: remove the batches of an earlier version of a file that has since
        grown in place (its new content starts with the old), so their rows are not counted twice.
        Returns the ids of the batches removed."""
        old = [r[0] for r in db.execute("SELECT id FROM batches WHERE file_id = ?", (file_id,)).fetchall()]
        for batch_id in old:
            db.execute("DELETE FROM feature_stats WHERE batch_id = ?", (batch_id,))
            db.execute("DELETE FROM predictions WHERE batch_id = ?", (batch_id,))
            db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
        return old

    def insert_batch(self, db: sqlite3.Connection, file_id: int, result: BatchResult, latency: float | None,
                     result_json: str | None = None) -> int:
        """Within the caller's transaction: the batch, its feature statistics, and the file marked done."""
        d = result.drift
        cur = db.execute(
            "INSERT INTO batches (file_id, path, rows, status, drift_share, drifted_count, tested_count, seconds,"
            " latency, created_at, result_json, kind, embedding_score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (file_id, fs_text(result.file), result.rows, result.status.label, d.share if d else None,
             d.drifted_count if d else None, d.tested_count if d else None, result.seconds, latency,
             time.time(), result_json or json.dumps(result.to_dict(), allow_nan=False), result.kind,
             result.embedding.score if result.embedding else None))
        batch_id = int(cur.lastrowid)
        if d is not None:
            db.executemany(
                "INSERT INTO feature_stats (batch_id, feature, test, statistic, p_value, effect_size, drifted,"
                " severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(batch_id, f.feature, f.test, _finite(f.statistic), _finite(f.p_value), _finite(f.effect_size),
                  int(f.drifted), f.severity.label if f.severity is not None else None)
                 for f in d.features.values()])
        self.mark_done(db, file_id)
        return batch_id

    @staticmethod
    def mark_done(db: sqlite3.Connection, file_id: int, now: float | None = None) -> None:
        db.execute("UPDATE files SET status = 'done', processed_at = ? WHERE id = ?",
                   (time.time() if now is None else now, file_id))

    @staticmethod
    def last_batch_id(db: sqlite3.Connection) -> int | None:
        return db.execute("SELECT MAX(id) FROM batches").fetchone()[0]

    def batch_count(self) -> int:
        return int(self.reader().execute("SELECT COUNT(*) FROM batches").fetchone()[0])

    _SUMMARY = ("id, path, rows, status, drift_share, drifted_count, tested_count, seconds, latency, created_at,"
                " kind, embedding_score")

    def recent_batches(self, limit: int) -> list[sqlite3.Row]:
        """The newest ``limit`` batches' summaries, oldest first."""
        return self.reader().execute(f"SELECT * FROM (SELECT {self._SUMMARY} FROM batches ORDER BY id DESC LIMIT ?)"
                                     " ORDER BY id", (limit,)).fetchall()

    def batches_after(self, batch_id: int, limit: int) -> list[sqlite3.Row]:
        """Summaries of the batches written after ``batch_id`` (the newest ``limit`` of them), oldest first."""
        return self.reader().execute(f"SELECT * FROM (SELECT {self._SUMMARY} FROM batches WHERE id > ? ORDER BY id"
                                     " DESC LIMIT ?) ORDER BY id", (batch_id, limit)).fetchall()

    def batch_results(self, batch_ids: list[int]) -> list[dict[str, Any]]:
        out = []
        for bid in batch_ids:
            row = self.reader().execute("SELECT result_json FROM batches WHERE id = ?", (bid,)).fetchone()
            if row:
                out.append(json.loads(row["result_json"]))
        return out

    def feature_history(self, limit_batches: int) -> list[sqlite3.Row]:
        return self.reader().execute(
            "SELECT fs.* FROM feature_stats fs JOIN (SELECT id FROM batches ORDER BY id DESC LIMIT ?) b"
            " ON fs.batch_id = b.id ORDER BY fs.batch_id", (limit_batches,)).fetchall()

    def feature_stats_of(self, batch_ids: list[int]) -> list[sqlite3.Row]:
        if not batch_ids:
            return []
        marks = ", ".join("?" * len(batch_ids))
        return self.reader().execute(f"SELECT * FROM feature_stats WHERE batch_id IN ({marks}) ORDER BY batch_id",
                                     batch_ids).fetchall()

    # alerts ------------------------------------------------------------------------------------------
    def open_alerts(self) -> list[Alert]:
        rows = self.reader().execute("SELECT * FROM alerts WHERE status IN ('open', 'acknowledged') ORDER BY id")
        return [Alert(**dict(r)) for r in rows.fetchall()]

    def alert_history(self, limit: int = 200) -> list[Alert]:
        """The most recently changed alerts, open or not, newest first."""
        rows = self.reader().execute("SELECT * FROM alerts ORDER BY MAX(updated_at, COALESCE(acknowledged_at, 0)) DESC,"
                               " id DESC LIMIT ?", (limit,))
        return [Alert(**dict(r)) for r in rows.fetchall()]

    def alert(self, alert_id: int) -> Alert | None:
        row = self.reader().execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return Alert(**dict(row)) if row else None

    # the alert book's tables live in store_alerts; these run them within the caller's transaction
    book = staticmethod(store_alerts.book)
    apply_judgement = staticmethod(store_alerts.apply_judgement)
    set_condition = staticmethod(store_alerts.set_condition)

    def record_incident(self, key: Key, record: AlertRecord, opened_at: float, resolved_at: float) -> None:
        """History of a monitor fault that the store could not record while it lasted (it was the store)."""
        with self.transaction() as db:
            store_alerts.insert_resolved(db, key, record, opened_at, resolved_at)

    def resolve_alerts(self, alerts: list[Alert], now: float) -> list[AlertEvent]:
        with self.transaction() as db:
            return store_alerts.resolve(db, alerts, now)

    def acknowledge(self, alert_id: int) -> Alert | None:
        """Acknowledge an open alert (an unreadable file's alert is closed by it; see store_alerts.acknowledge)."""
        with self.transaction() as db:
            store_alerts.acknowledge(db, alert_id, time.time())
        return self.alert(alert_id)

    def unacknowledge(self, alert_id: int) -> Alert | None:
        """Withdraw an alert's acknowledgement: the alert if it was acknowledged (and is open again), else None."""
        with self.transaction() as db:
            changed = store_alerts.unacknowledge(db, alert_id)
        return self.alert(alert_id) if changed else None


def _finite(x: float) -> float | None:
    return x if x == x and x not in (float("inf"), float("-inf")) else None



