"""The store's schema: SQLite migrations, applied in order on open (``PRAGMA user_version`` counts them)."""

from __future__ import annotations

# Each entry migrates from version i to i + 1. Never edit a released entry; append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sha256 TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('processing', 'done')),
        first_seen REAL NOT NULL,
        processed_at REAL
    );
    CREATE UNIQUE INDEX files_identity ON files (sha256, path);
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files (id),
        path TEXT NOT NULL,
        rows INTEGER NOT NULL,
        status TEXT NOT NULL,
        drift_share REAL,
        drifted_count INTEGER,
        tested_count INTEGER,
        seconds REAL NOT NULL,
        latency REAL,
        created_at REAL NOT NULL,
        result_json TEXT NOT NULL
    );
    CREATE UNIQUE INDEX batches_file ON batches (file_id);
    CREATE TABLE feature_stats (
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        feature TEXT NOT NULL,
        test TEXT NOT NULL,
        statistic REAL,
        p_value REAL,
        effect_size REAL,
        drifted INTEGER NOT NULL,
        severity TEXT,
        PRIMARY KEY (batch_id, feature)
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        opened_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        resolved_at REAL,
        acknowledged_at REAL,
        count INTEGER NOT NULL,
        first_batch_id INTEGER,
        last_batch_id INTEGER
    );
    CREATE INDEX alerts_status ON alerts (status);
    CREATE TABLE alert_streaks (
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        failing INTEGER NOT NULL,
        clean INTEGER NOT NULL,
        PRIMARY KEY (kind, subject)
    );
    """,
    # 2: predictions kept for labels that arrive later, and label files
    """
    CREATE TABLE predictions (
        row_id TEXT PRIMARY KEY,
        batch_id INTEGER NOT NULL,
        row_index INTEGER NOT NULL,
        prediction TEXT,
        score REAL,
        label TEXT,
        created_at REAL NOT NULL,
        labelled_at REAL,
        features TEXT
    );
    CREATE INDEX predictions_labelled ON predictions (labelled_at);
    CREATE INDEX predictions_created ON predictions (created_at);
    CREATE TABLE label_files (
        file_id INTEGER PRIMARY KEY REFERENCES files (id),
        path TEXT NOT NULL,
        rows INTEGER NOT NULL,
        matched INTEGER NOT NULL,
        unmatched INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 3: frame batches: the batch kind and its embedding drift score (for trends after a restart)
    """
    ALTER TABLE batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'table';
    ALTER TABLE batches ADD COLUMN embedding_score REAL;
    """,
    # 4: one incident, one alert: at most one open (or acknowledged) alert per (kind, subject). Earlier
    # releases could open duplicates (a frame batch re-opening a table alert); keep the oldest of each.
    """
    UPDATE alerts SET status = 'resolved', resolved_at = updated_at
        WHERE status IN ('open', 'acknowledged') AND id NOT IN
        (SELECT MIN(id) FROM alerts WHERE status IN ('open', 'acknowledged') GROUP BY kind, subject);
    CREATE UNIQUE INDEX alerts_open_key ON alerts (kind, subject) WHERE status IN ('open', 'acknowledged');
    """,
    # 5: poison pills: how many processes started on a file and never finished it (killed mid-batch)
    """
    ALTER TABLE files ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
