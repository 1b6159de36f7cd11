"""The async analysis engine: source -> load -> analyse -> alert -> store -> publish.

Runs on one asyncio loop (the dashboard's, or its own when headless). File hashing and analysis run in
worker threads so the loop stays responsive; SQLite is used from the loop thread only. Batches are
processed one at a time in arrival order. Subscribers are plain callables that receive ``BatchEvent`` and
``AlertEvent`` objects on the loop thread; one failing subscriber never stops the others or the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..baseline.build import sha256_file
from ..baseline.store import Baseline
from ..checks.performance import performance_alerts
from ..config import Settings
from ..io.csv_reader import BatchReadError
from ..model import (
    AlertEvent,
    AlertKind,
    AlertRecord,
    BatchEvent,
    BatchResult,
    EngineStats,
    LabelsEvent,
    PerformanceResult,
    Severity,
    status_of_alerts,
)
from . import labels as lab
from .alerts import action_subject, apply_alert_rules, is_monitor_key, scope_for, set_condition
from .pipeline import analyse_path, unreadable_result
from .readiness import ReadinessTracker, batch_of, is_batch_candidate
from .store import FileIdentity, Store

Event = BatchEvent | AlertEvent | LabelsEvent
Subscriber = Callable[[Event], None]
FEATURE_TREND = 60  # effect sizes kept per feature for trend columns
_SLOW_HOOK = "SENTINEL_DEBUG_SLOW_ANALYSIS"  # test hook: seconds to sleep before analysing (crash tests)


def dir_signature(path: str) -> tuple[int, float] | None:
    """(total bytes, latest mtime) of a frame directory's files: changes whenever a file is added or written."""
    size, mtime = 0, 0.0
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_file():
                    st = entry.stat()
                    size += st.st_size + 1  # + 1: an empty marker file still changes the signature
                    mtime = max(mtime, st.st_mtime)
    except OSError:
        return None
    return size, mtime


def file_identity(path: str) -> FileIdentity | None:
    """A batch's identity: for a file its bytes; for a frame directory the names and bytes of its files."""
    try:
        if os.path.isdir(path):
            import hashlib

            sig = dir_signature(path)
            if sig is None:
                return None
            h = hashlib.sha256()
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                if entry.is_file() and not entry.name.startswith("."):
                    h.update(entry.name.encode("utf-8", "surrogateescape") + b"\0")
                    h.update(bytes.fromhex(sha256_file(Path(entry.path))))
            return FileIdentity(path=path, size=sig[0], mtime=sig[1], sha256=h.hexdigest())
        st = os.stat(path)
        digest = sha256_file(Path(path))
    except OSError:
        return None
    return FileIdentity(path=path, size=st.st_size, mtime=st.st_mtime, sha256=digest)


@dataclass(frozen=True)
class BatchSummary:
    """What the rolling window keeps of one batch."""

    batch_id: int | None
    file: str
    rows: int
    status: str
    drift_share: float | None
    seconds: float
    latency: float | None
    processed_at: float
    kind: str = "table"
    embedding_score: float | None = None


class Engine:
    def __init__(self, directory: Path, baseline: Baseline, settings: Settings, store: Store, *,
                 poll: bool = False):
        self.directory = Path(directory).resolve()
        self.baseline = baseline
        self.settings = settings
        self.store = store
        self.poll = poll
        self._subscribers: list[Subscriber] = []
        self.recent: deque[BatchSummary] = deque(maxlen=settings.watch.history)
        self.feature_trends: dict[str, deque[float]] = {}
        self._resume = asyncio.Event()
        self._resume.set()
        self._busy = False  # a batch is between hashing and publishing
        self.window: PerformanceResult | None = None  # the rolling window of labelled rows
        self._since_prune = 0  # prediction rows stored since the last prune
        self.heartbeat: float | None = None  # monotonic time the running loop last ticked (liveness, /health)
        self._load_history()
        # Alert actions currently failing: open "(action NAME)" alerts from before a restart count too.
        self._failing_actions = {(a.kind, a.subject) for a in self.open_alerts() if is_monitor_key((a.kind,
                                                                                                   a.subject))}

    # subscribers -------------------------------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def _publish(self, event: Event) -> None:
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception as exc:  # a broken subscriber must not stop monitoring
                print(f"sentinel: subscriber {getattr(fn, '__qualname__', fn)} failed: {exc!r}", file=sys.stderr)

    # state ---------------------------------------------------------------------------------------------
    def _load_history(self) -> None:
        for row in self.store.recent_batches(self.settings.watch.history):
            self.recent.append(BatchSummary(row["id"], row["path"], row["rows"], row["status"], row["drift_share"],
                                            row["seconds"], row["latency"], row["created_at"], row["kind"],
                                            row["embedding_score"]))
        for row in self.store.feature_history(FEATURE_TREND):
            if row["effect_size"] is not None:
                self._trend(row["feature"]).append(row["effect_size"])
        self.window = lab.window_performance(self.store.db, self.baseline, self.settings)

    def reload(self) -> None:
        """Re-read the history from the store (a viewer following another process's engine)."""
        self.recent.clear()
        self.feature_trends.clear()
        self._load_history()

    def latest_results(self) -> tuple[dict | None, dict | None]:
        """The stored JSON results of the latest table batch with drift and of the latest frame batch with
        embeddings (what a dashboard or the metrics show after a restart)."""
        found = []
        for pick in (lambda b: b.drift_share is not None, lambda b: b.embedding_score is not None):
            batch_id = next((b.batch_id for b in reversed(self.recent) if pick(b)), None)
            results = self.store.batch_results([batch_id]) if batch_id is not None else []
            found.append(results[0] if results else None)
        return found[0], found[1]

    def _trend(self, feature: str) -> deque[float]:
        trend = self.feature_trends.get(feature)
        if trend is None:
            trend = self.feature_trends[feature] = deque(maxlen=FEATURE_TREND)
        return trend

    def open_alerts(self):
        return self.store.open_alerts()

    def stats(self) -> EngineStats:
        recent = list(self.recent)
        latencies = [b.latency for b in recent if b.latency is not None]
        window = [b for b in recent if b.processed_at >= (recent[-1].processed_at - 60)] if recent else []
        rows_per_s = None
        if len(window) >= 2:
            span = window[-1].processed_at - window[0].processed_at
            rows_per_s = sum(b.rows for b in window[1:]) / span if span > 0 else None
        alerts = self.open_alerts()
        share = next((b.drift_share for b in reversed(recent) if b.drift_share is not None), None)
        return EngineStats(
            batches=self.store.batch_count(), rows_per_second=rows_per_s,
            latency_p50=float(np.percentile(latencies, 50)) if latencies else None,
            latency_p95=float(np.percentile(latencies, 95)) if latencies else None,
            drift_share=share, status=status_of_alerts(alerts), open_alerts=len(alerts))

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def acknowledge(self, alert_id: int) -> None:
        alert = self.store.acknowledge(alert_id)
        if alert is not None and alert.status == "acknowledged":
            self._publish(AlertEvent("acknowledged", alert))

    def action_status(self, name: str, error: str | None) -> None:
        """On the loop thread, from an alert action: a failed delivery opens (or updates) the pipeline warning
        "(action NAME)"; the next successful one resolves it. Analysis never waits for either."""
        key = (AlertKind.PIPELINE.value, action_subject(name))
        if error is None and key not in self._failing_actions:
            return  # the common case, delivered and nothing open: no write
        record = None if error is None else AlertRecord(AlertKind.PIPELINE, Severity.WARNING, key[1],
                                                        f"alert action {name!r} failed: {error}")
        with self.store.transaction() as db:
            event = set_condition(db, key, record)
        if error is None:
            self._failing_actions.discard(key)
        else:
            self._failing_actions.add(key)
        if event is not None:
            self._publish(event)

    # sources -------------------------------------------------------------------------------------------
    def is_candidate(self, path: str, is_dir: bool = False) -> bool:
        return is_batch_candidate(Path(path), self.directory, self.store.state_dir.resolve(), is_dir=is_dir)

    def scan(self) -> list[str]:
        """Batches already in the directory that are not known to the store, oldest first: files, and frame
        directories (directories holding images or the completion marker)."""
        found = []
        for entry in os.scandir(self.directory):
            if entry.is_dir():
                if not self.is_candidate(entry.path, is_dir=True) or not self._looks_like_frames(entry.path):
                    continue
                sig = dir_signature(entry.path)
                if sig is None or self.store.known_stat(entry.path) == sig:
                    continue
                found.append((sig[1], entry.name, entry.path))
                continue
            if not entry.is_file() or not self.is_candidate(entry.path):
                continue
            st = entry.stat()
            if self.store.known_stat(entry.path) == (st.st_size, st.st_mtime):
                continue  # processed before, unchanged: no need to hash it again
            found.append((st.st_mtime, entry.name, entry.path))
        return [p for _, _, p in sorted(found)]

    def _looks_like_frames(self, path: str) -> bool:
        from ..io.frames import IMAGE_SUFFIXES

        try:
            with os.scandir(path) as it:
                return any(e.name == self.settings.frames.marker or e.name.lower().endswith(IMAGE_SUFFIXES)
                           for e in it)
        except OSError:
            return False

    # processing ----------------------------------------------------------------------------------------
    def _analyse(self, path: str, now: float) -> tuple[BatchResult, str, list[tuple]]:
        """In a worker thread: the result, its JSON for the store (serialising 1,000 features takes tens of
        milliseconds, which the event loop, and so the dashboard, should not wait for) and the prediction
        rows kept for labels (batch id filled in later)."""
        delay = os.environ.get(_SLOW_HOOK)
        if delay:
            time.sleep(float(delay))
        sink: dict = {}
        try:
            result = analyse_path(Path(path), self.baseline, self.settings, sink=sink)
            rows = lab.prediction_rows(self.baseline, sink.get("columns") or {}, 0, now)
        except Exception as exc:  # a bug on one odd file must not stop the monitor: report it as that file's
            result = unreadable_result(Path(path), f"internal error while analysing: {exc!r}")
            rows = []
        return result, json.dumps(result.to_dict(), allow_nan=False), rows

    async def process(self, path: str, ready_at: float | None = None) -> BatchEvent | None:
        ident = await asyncio.to_thread(file_identity, path)
        if ident is None or self.store.file_status(ident) == "done":
            return None  # gone, or this exact content was processed already
        file_id = self.store.begin_file(ident)
        if lab.is_label_file(path, self.settings.performance.label_pattern):
            return await self._process_labels(path, file_id)
        started = time.time()
        result, result_json, rows = await asyncio.to_thread(self._analyse, path, started)
        latency = time.monotonic() - ready_at if ready_at is not None else None
        batch_id, window, alert_events = await asyncio.to_thread(self._commit, file_id, result, latency,
                                                                 result_json, rows, started)
        self.window = window
        now = time.time()
        self.recent.append(BatchSummary(batch_id, result.file, result.rows, result.status.label,
                                        result.drift.share if result.drift else None, result.seconds, latency, now,
                                        result.kind, result.embedding.score if result.embedding else None))
        if result.drift is not None:
            for f in result.drift.features.values():
                if np.isfinite(f.effect_size):
                    self._trend(f.feature).append(f.effect_size)
        event = BatchEvent(result=result, batch_id=batch_id, latency=latency, processed_at=now, stats=self.stats(),
                           performance=window)
        self._publish(event)
        for e in alert_events:
            self._publish(e)
        return event

    def _commit(self, file_id: int, result: BatchResult, latency: float | None, result_json: str,
                rows: list[tuple], started: float) -> tuple[int, PerformanceResult | None, list[AlertEvent]]:
        """In a worker thread, one transaction: the batch, its predictions, pruning, the window and the
        alert rules (10,000 prediction rows take tens of milliseconds to write; the loop stays free)."""
        with self.store.transaction() as db:
            batch_id = self.store.insert_batch(db, file_id, result, latency, result_json)
            if rows:
                lab.store_predictions(db, [(r[0], batch_id, *r[2:]) for r in rows])
                self._since_prune += len(rows)
            # The horizon (an indexed delete) every batch; the count bounds (two COUNTs) now and then.
            by_count = self._since_prune >= lab.CHANGE_ROWS // 4
            lab.prune(db, self.settings.performance.label_horizon_hours, started,
                      self.settings.performance.max_pending_predictions, by_count=by_count)
            if by_count:
                self._since_prune = 0
            window = lab.window_performance(db, self.baseline, self.settings) if rows else self.window
            # In watch mode model quality is judged on the rolling window, not on one batch's labels.
            records = [a for a in result.alerts if a.kind != AlertKind.PERFORMANCE]
            records += performance_alerts(window, None)
            alert_events = apply_alert_rules(db, batch_id, records, self.settings.alerts,
                                             scope=scope_for(result.kind))
        return batch_id, window, alert_events

    async def _process_labels(self, path: str, file_id: int) -> None:
        now = time.time()
        try:
            labels = await asyncio.to_thread(lab.read_label_file, Path(path), self.baseline, self.settings)
        except BatchReadError as exc:
            with self.store.transaction() as db:
                db.execute("UPDATE files SET status = 'done', processed_at = ? WHERE id = ?", (now, file_id))
            self._publish(LabelsEvent(path, 0, 0, 0, self.window, now, reason=exc.reason))
            return None
        with self.store.transaction() as db:
            matched, unmatched = lab.apply_labels(db, labels.labels, now)
            db.execute("INSERT OR REPLACE INTO label_files (file_id, path, rows, matched, unmatched, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (file_id, path, labels.rows, matched, unmatched, now))
            db.execute("UPDATE files SET status = 'done', processed_at = ? WHERE id = ?", (now, file_id))
            self.window = lab.window_performance(db, self.baseline, self.settings)
            last = db.execute("SELECT MAX(id) FROM batches").fetchone()[0]
            alert_events = []
            if last is not None:
                # Late labels can open or resolve a performance alert; other kinds are left as they are.
                records = performance_alerts(self.window, None)
                alert_events = apply_alert_rules(db, last, records, self.settings.alerts,
                                                 scope=lambda key: key[0] == AlertKind.PERFORMANCE.value)
        self._publish(LabelsEvent(path, labels.rows, matched, unmatched, self.window, now))
        for e in alert_events:
            self._publish(e)
        return None

    async def run_once(self) -> list[BatchEvent]:
        """Process every batch in the directory not yet in the history, oldest first."""
        self.store.claim()
        events = []
        for path in self.scan():
            event = await self.process(path, time.monotonic())
            if event is not None:
                events.append(event)
        return events

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the directory until ``stop`` is set: what arrived while down first, then new files."""
        from .watcher import DirectoryWatcher

        self.store.claim()
        loop = asyncio.get_running_loop()
        tracker = ReadinessTracker(self.settings.watch.quiet_period)
        queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue(maxsize=max(1, self.settings.watch.queue_size))

        wake = asyncio.Event()  # a close or rename makes a file ready now: do not wait for the next tick

        marker = self.settings.frames.marker

        def on_event(kind: str, path: str, is_dir: bool = False) -> None:
            found = batch_of(path, self.directory)
            if found is None:
                return
            batch, nested = found
            if nested:
                # A file inside a frame directory: the marker completes the batch, anything else is progress.
                if not self.is_candidate(batch, is_dir=True):
                    return
                done = Path(path).name == marker and kind in ("created", "closed", "moved")
                kind = "closed" if done else "modified"
            elif not self.is_candidate(path, is_dir=is_dir):
                return
            elif is_dir and kind == "created":
                kind = "modified"  # a new, still empty directory: wait for its marker or the quiet period
            tracker.observe(batch, kind, time.monotonic())
            if kind in ("closed", "moved"):
                wake.set()

        def stat(path: str) -> tuple[int, float] | None:
            try:
                st = os.stat(path)
            except OSError:
                return None
            if os.path.isdir(path):
                return dir_signature(path)
            return st.st_size, st.st_mtime

        state_dir = str(self.store.state_dir.resolve())

        # The observer starts before the first scan, so a file arriving in between is seen by one or the other
        # (or both: the queued set and the file identity make that harmless).
        watcher = DirectoryWatcher(self.directory, loop, on_event, poll=self.poll,
                                   skip=lambda p: p.startswith(state_dir))
        watcher.start()
        backlog: deque[tuple[str, float]] = deque((p, time.monotonic()) for p in self.scan())
        queued: set[str] = {p for p, _ in backlog}  # waiting or in progress: a rescan must not add them again

        async def feed() -> None:
            last_scan = time.monotonic()
            while True:
                now = time.monotonic()
                if now - last_scan >= self.settings.watch.rescan_interval:
                    # A safety net for lost events (inotify queue overflow, network file systems): files the
                    # store does not know must still be stable for the quiet period before they are read.
                    last_scan = now
                    for path in await asyncio.to_thread(self.scan):
                        if path not in queued and path not in tracker:
                            tracker.observe(path, "modified", now)
                ready = [p for p in tracker.poll(now, stat) if p not in queued]
                backlog.extend((p, now) for p in ready)
                queued.update(ready)
                while backlog:
                    await queue.put(backlog.popleft())  # waits while the queue is full: backpressure
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 0.05)

        async def work() -> None:
            while True:
                path, ready_at = await queue.get()
                await self._resume.wait()
                self._busy = True
                try:
                    await self.process(path, ready_at)
                finally:
                    queued.discard(path)
                    self._busy = False

        async def beat() -> None:
            # Liveness for /health: the loop is responsive (analysis runs in threads, so a long batch or a
            # full queue does not stop this).
            while True:
                self.heartbeat = time.monotonic()
                await asyncio.sleep(1.0)

        feeder = asyncio.create_task(feed())
        worker = asyncio.create_task(work())
        beater = asyncio.create_task(beat())
        try:
            await stop.wait()
        finally:
            feeder.cancel()
            beater.cancel()
            # Let the batch in progress finish so its result is stored and published, then stop.
            while self._busy and not worker.done():
                await asyncio.sleep(0.05)
            worker.cancel()
            await asyncio.gather(feeder, worker, beater, return_exceptions=True)
            watcher.stop()
