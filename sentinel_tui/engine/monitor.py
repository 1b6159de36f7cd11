"""The async analysis engine: source -> processor (load -> analyse -> judge -> store) -> publish.

Runs on one asyncio loop (the dashboard's, or its own when headless). File hashing, analysis and the batch's
transaction run in worker threads so the loop stays responsive. Batches are processed one at a time in arrival
order. Subscribers are plain callables that receive ``BatchEvent`` and ``AlertEvent`` objects on the loop
thread; one failing subscriber never stops the others or the engine.

Supervision: nothing ends quietly. A failure while processing one batch becomes that batch's pipeline alert
and the engine goes on. A failure of the monitor itself (the store locked, full, corrupt or unwritable; the
watcher or a task dying) opens a critical alert about the monitor (kept in memory: the store may be what
failed), which ``/health`` turns into 503; the batch is retried with backoff and processed exactly once when
the cause goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import sentinel_tui.performance.window as lab
from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.config import Settings
from sentinel_tui.engine import store_labels
from sentinel_tui.engine.alertbook import action_subject, is_file_key, is_monitor_key, judge, scope
from sentinel_tui.engine.faults import MAX_BACKOFF, MonitorFaults, backoff
from sentinel_tui.engine.label_files import process_label_file
from sentinel_tui.engine.pipeline import analyse_path, ignored_result, unreadable_result
from sentinel_tui.engine.source import DirectoryScan, file_identity, starts_with
from sentinel_tui.engine.store import STORE_ERRORS, FileIdentity, Store, is_store_fault
from sentinel_tui.engine.view import MonitorView
from sentinel_tui.events import Alert, AlertEvent, BatchEvent, EngineStats, LabelsEvent
from sentinel_tui.model import AlertKind, AlertRecord, BatchResult, PerformanceResult, Severity
from sentinel_tui.performance.assess import performance_alerts
from sentinel_tui.textsafe import clean, fs_text

Event = BatchEvent | AlertEvent | LabelsEvent
Subscriber = Callable[[Event], None]
# A batch that was being processed when the process died this many times is skipped with a critical alert:
# one crash can be bad luck (a kill, a reboot); two in a row on the same content is the batch (a poison pill).
MAX_ATTEMPTS = 2
# Findings of a batch that was not checked at all: such a batch is no observation of its stream.
NO_EVIDENCE = frozenset({"unreadable", "ignored_entry", "too_few_frames", "frames_unavailable",
                         "table_unavailable"})


class Engine:
    def __init__(self, directory: Path, baseline: Baseline, settings: Settings, store: Store, *,
                 poll: bool = False):
        self.directory = Path(directory).resolve()
        self.baseline = baseline
        self.settings = settings
        self.store = store
        self.poll = poll
        self.files = DirectoryScan(self.directory, store, settings)
        self._subscribers: list[Subscriber] = []
        self.resume_event = asyncio.Event()
        self.resume_event.set()
        self.idle_event = asyncio.Event()  # follow mode: every batch found so far is processed (FollowLoop sets it)
        self.ready = asyncio.Event()  # follow mode: the first scan is done, the backlog is queued
        self.stopping = asyncio.Event()  # set when run() is asked to stop: a batch waiting for the store gives up
        self.window: PerformanceResult | None = None  # the rolling window of labelled rows
        self._since_prune = 0  # prediction rows stored since the last prune
        self.heartbeat: float | None = None  # monotonic time the running loop last ticked (liveness, /health)
        self._replaced: list[int] = []  # batches the latest commit replaced (same file, new content)
        self.monitor = MonitorFaults(store, self.publish)  # alerts about the monitor's own parts
        self._ack_seen = time.time()
        # The one read model: every display and export reads it (the engine keeps it current with its events).
        self.view = MonitorView.load(store, settings.watch.history, self._read_window)
        # Alert actions currently failing: open "(action NAME)" alerts from before a restart count too.
        self._failing_actions = {(a.kind, a.subject) for a in self.store.open_alerts()
                                 if is_monitor_key((a.kind, a.subject))}

    # subscribers -------------------------------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        if fn in self._subscribers:
            self._subscribers.remove(fn)

    def publish(self, event: Event, applied: bool = False) -> None:
        """The view first (so subscribers that read it see the event), then the subscribers."""
        if not applied:
            self.view.apply(event)
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception as exc:  # a broken subscriber must not stop monitoring
                print(f"sentinel: subscriber {getattr(fn, '__qualname__', fn)} failed: {exc!r}", file=sys.stderr)

    def publish_all(self, events: list[AlertEvent], applied: bool = False) -> None:
        for event in events:
            self.publish(event, applied)

    # state ---------------------------------------------------------------------------------------------
    def _read_window(self) -> PerformanceResult | None:
        """The rolling window of labelled rows as the store holds it (on start, and for a viewer)."""
        self.window = lab.window_performance(self.store.reader(), self.baseline, self.settings)
        return self.window

    def follow_store(self) -> bool:
        """A viewer: take in what another process's engine wrote to the store since the last look."""
        return self.view.follow_store(self.store)

    def open_alerts(self) -> list[Alert]:
        """Open alerts, the monitor's own faults included (from the view: the store may be what fails)."""
        return self.view.open_alerts()

    def stats(self) -> EngineStats:
        return self.view.stats()

    @property
    def paused(self) -> bool:
        return not self.resume_event.is_set()

    def pause(self) -> None:
        self.resume_event.clear()

    def resume(self) -> None:
        self.resume_event.set()

    def acknowledge(self, alert_id: int) -> None:
        """Acknowledge an open alert (an unreadable file's alert is closed by it; see Store.acknowledge)."""
        alert = self.store.acknowledge(alert_id)
        if alert is not None and alert.acknowledged_at is not None and alert.acknowledged_at >= self._ack_seen:
            self._ack_seen = alert.acknowledged_at
            self.publish(AlertEvent("acknowledged", alert))

    def unacknowledge(self, alert_id: int) -> None:
        """Withdraw an acknowledgement: the alert is open again (published as "unacknowledged", at its time)."""
        alert = self.store.unacknowledge(alert_id)
        if alert is not None:
            self.publish(AlertEvent("unacknowledged", alert, at=time.time()))

    def pass_on_external_acks(self) -> None:
        """Acknowledgements made by another process (``sentinel alerts DIR ack``) reach the subscribers."""
        for alert in self.store.acknowledged_since(self._ack_seen):
            if alert.acknowledged_at is not None and alert.acknowledged_at > self._ack_seen:
                self._ack_seen = alert.acknowledged_at
                self.publish(AlertEvent("acknowledged", alert))

    def action_status(self, name: str, error: str | None) -> None:
        """On the loop thread, from an alert action: a failed delivery opens (or updates) the pipeline warning
        "(action NAME)"; the next successful one resolves it. Analysis never waits for either."""
        key = (AlertKind.PIPELINE.value, action_subject(name))
        if error is None and key not in self._failing_actions:
            return  # the common case, delivered and nothing open: no write
        record = None if error is None else AlertRecord(AlertKind.PIPELINE, Severity.WARNING, key[1],
                                                        f"alert action {name!r} failed: {error}")
        try:
            with self.store.transaction() as db:
                event = Store.set_condition(db, key, record)
        except STORE_ERRORS as exc:
            self.report_fault("store", f"cannot write to the store {self.store.path}: {exc}")
            return
        if error is None:
            self._failing_actions.discard(key)
        else:
            self._failing_actions.add(key)
        if event is not None:
            self.publish(event)

    # the monitor's own health ------------------------------------------------------------------------
    def report_fault(self, component: str, problem: str | None, severity: str = "critical") -> None:
        self.monitor.report(component, problem, severity)

    @property
    def failure(self) -> str | None:
        return self.monitor.failure

    # sources (kept for the dashboard and tests) ----------------------------------------------------------
    def is_candidate(self, path: str, is_dir: bool = False) -> bool:
        return self.files.is_candidate(path, is_dir)

    def scan(self) -> list[str]:
        return self.files.new_batches()

    def resolve_missing_files(self) -> list[AlertEvent]:
        """Alerts about files that could not be read end when the file is gone (nothing is left to read)."""
        try:
            present = {fs_text(e.name) for e in os.scandir(self.directory)}
        except OSError:
            return []
        gone = [a for a in self.store.open_alerts() if is_file_key((a.kind, a.subject)) and a.subject not in present]
        events = self.store.resolve_alerts(gone, time.time()) if gone else []
        self.publish_all(events)
        return events

    # processing ----------------------------------------------------------------------------------------
    def _analyse(self, path: str, now: float, file_id: int, ident: FileIdentity
                 ) -> tuple[BatchResult, str, list[tuple]]:
        """In a worker thread: the result, its JSON for the store (serialising 1,000 features takes tens of
        milliseconds, which the event loop, and so the dashboard, should not wait for) and the prediction
        rows kept for labels (batch id filled in later)."""
        sink: dict = {}
        try:
            if ident.note is not None:
                result = ignored_result(Path(path), ident.note)
            else:
                # Never through a link the identity did not approve: a followed one is read at its target.
                result = analyse_path(Path(ident.target or path), self.baseline, self.settings, sink=sink,
                                      follow_symlinks=False)
                if ident.target is not None:
                    result = replace(result, file=fs_text(path))
            rows = lab.prediction_rows(self.baseline, sink.get("columns") or {}, 0, now, anonymous=f"~{file_id}:")
        except Exception as exc:  # a bug on one odd file must not stop the monitor: report it as that file's
            result = unreadable_result(Path(path), f"internal error while analysing: {exc!r}")
            rows = []
        return result, json.dumps(result.to_dict(), allow_nan=False), rows

    async def process(self, path: str, ready_at: float | None = None, retry: bool = False) -> BatchEvent | None:
        """One batch or label file, start to finish. Raises when something fails outside the analysis (a
        store error, a bug); ``process_supervised`` and ``run_once`` decide what that means. ``retry``: the
        same batch again within this process (not a new attempt for the poison-pill count)."""
        ident = await asyncio.to_thread(file_identity, path, self.directory, self.settings.watch.follow_symlinks)
        if ident is None or self.store.file_status(ident) == "done":
            return None  # gone, or this exact content was processed already
        file_id, crashed = self.store.begin_file(ident, count_attempt=not retry)
        if crashed >= MAX_ATTEMPTS:
            result = unreadable_result(Path(path), f"processing it stopped the monitor {crashed} times (killed: out "
                                                   "of memory, or a crash while decoding?); skipped")
            return await self._store_result(path, file_id, result, ready_at)
        if ident.note is None and lab.is_label_file(path, self.settings.performance.label_pattern):
            await process_label_file(self, ident.target or path, file_id, display=path)
            return None
        replaces = await self._grown_from(path, ident)
        started = time.time()
        result, result_json, rows = await asyncio.to_thread(self._analyse, path, started, file_id, ident)
        return await self._store_result(path, file_id, result, ready_at, result_json, rows, started, replaces)

    async def _grown_from(self, path: str, ident: FileIdentity) -> int | None:
        """The file id of an analysed earlier version of this file that the new content starts with (a writer
        appended to it, or it was read half-written): its result is replaced, not counted twice. A file
        rewritten with other content under the same name is a new batch, and the old one stays."""
        previous = self.store.previous_version(path)
        if previous is None or ident.note is not None or previous[2] == ident.sha256 or previous[1] > ident.size:
            return None
        grown = await asyncio.to_thread(starts_with, ident.target or path, previous[1], previous[2])
        return previous[0] if grown else None

    async def _store_result(self, path: str, file_id: int, result: BatchResult, ready_at: float | None,
                            result_json: str | None = None, rows: list[tuple] | None = None,
                            started: float | None = None, replaces: int | None = None) -> BatchEvent:
        """Commit one batch's result and publish it (and the alert changes it made)."""
        started = time.time() if started is None else started
        result_json = result_json or json.dumps(result.to_dict(), allow_nan=False)
        rows = rows or []
        latency = time.monotonic() - ready_at if ready_at is not None else None
        batch_id, window, alert_events = await asyncio.to_thread(self._commit, file_id, result, latency,
                                                                 result_json, rows, started, replaces)
        self.window = window
        event = BatchEvent(result=result, batch_id=batch_id, latency=latency, processed_at=time.time(),
                           stats=self.view.stats(), performance=window, replaced=tuple(self._replaced))
        # The batch and the alert changes it made reach the view together: the event's figures (the overall
        # status, open alerts) are those after this batch.
        self.view.apply(event)
        for alert_event in alert_events:
            self.view.apply(alert_event)
        event = replace(event, stats=self.view.stats())
        self.publish(event, applied=True)
        self.publish_all(alert_events, applied=True)
        return event

    def _commit(self, file_id: int, result: BatchResult, latency: float | None, result_json: str,
                rows: list[tuple], started: float, replaces: int | None = None
                ) -> tuple[int, PerformanceResult | None, list[AlertEvent]]:
        """In a worker thread, one transaction: the batch, its predictions, pruning, the window and the
        alerts (10,000 prediction rows take tens of milliseconds to write; the loop stays free)."""
        with self.store.transaction() as db:
            self._replaced = Store.replace_earlier(db, replaces) if replaces is not None else []
            batch_id = self.store.insert_batch(db, file_id, result, latency, result_json)
            new_labels = 0
            if rows:
                new_labels = store_labels.store_predictions(db, [(r[0], batch_id, *r[2:]) for r in rows])
                self._since_prune += len(rows)
            # The horizon (an indexed delete) every batch; the count bounds (two COUNTs) now and then.
            by_count = self._since_prune >= lab.CHANGE_ROWS // 4
            store_labels.prune(db, self.settings.performance.label_horizon_hours, started,
                               self.settings.performance.max_pending_predictions, lab.CHANGE_ROWS, by_count=by_count)
            if by_count:
                self._since_prune = 0
            # Model quality is judged on the rolling window, and only when labelled rows were added: a batch
            # without labels is no new evidence, and must count neither towards opening nor resolving.
            window = lab.window_performance(db, self.baseline, self.settings) if new_labels else self.window
            records = [a for a in result.alerts if a.kind != AlertKind.PERFORMANCE]
            if new_labels:
                records += performance_alerts(window, None)
            # A batch that was not checked (unreadable, refused, ignored, too few frames) is no observation of
            # its stream: two unreadable files must not resolve a drift alert.
            evidence = not any(f.check in NO_EVIDENCE for f in result.findings)
            own = frozenset((r.kind.value, r.subject) for r in records)
            evaluated = scope(result.kind, Path(result.file).name, bool(new_labels), evidence, own)
            alert_events = self.judge(db, evaluated, records, batch_id)
        return batch_id, window, alert_events

    def judge(self, db: sqlite3.Connection, evaluated: Callable, records: list[AlertRecord],
               batch_id: int | None) -> list[AlertEvent]:
        open_alerts, streaks = Store.book(db)
        judgement = judge(open_alerts, streaks, evaluated, records, self.settings.alerts)
        return Store.apply_judgement(db, judgement, batch_id, time.time())

    async def _record_failure(self, path: str, exc: BaseException) -> BatchEvent | None:
        """A failure outside the analysis (hashing, storing odd values): the batch's own critical alert, so the
        file is not lost silently and the next batch still runs."""
        result = unreadable_result(Path(path), f"internal error while processing: {exc!r}")
        ident = await asyncio.to_thread(file_identity, path, self.directory, self.settings.watch.follow_symlinks)
        if ident is None:
            return None
        file_id, _ = self.store.begin_file(ident, count_attempt=False)
        return await self._store_result(path, file_id, result, None)

    async def process_supervised(self, path: str, ready_at: float | None = None) -> BatchEvent | None:
        """``process`` that never gives up on a batch while the store fails (retried with backoff, the fault
        reported), and turns any other failure into the batch's own alert."""
        delay, retry = 1.0, False
        while True:
            try:
                try:
                    event = await self.process(path, ready_at, retry=retry)
                except Exception as exc:  # noqa: BLE001 (a bug on one batch, or a value SQLite refused)
                    if isinstance(exc, STORE_ERRORS) and is_store_fault(exc):
                        raise
                    event = await self._record_failure(path, exc)
            except STORE_ERRORS as exc:
                if not is_store_fault(exc):  # even recording the failure was refused: say so, go on
                    print(f"sentinel: {clean(fs_text(path))} could not be recorded: {exc!r}", file=sys.stderr)
                    return None
                self.report_fault("store", f"cannot use the store {self.store.path}: {exc} (retrying "
                                           f"{fs_text(Path(path).name)} every {MAX_BACKOFF:.0f} s at most)")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                if self.stopping.is_set():
                    return None  # shutting down: the batch was not committed, so the next start processes it
                delay, retry = backoff(delay), True
                continue
            self.report_fault("store", None)
            return event

    async def run_once(self) -> list[BatchEvent]:
        """Process every batch in the directory not yet in the history, oldest first. Store failures raise
        (``--once`` exits 3)."""
        self.store.claim()
        self.resolve_missing_files()
        events = []
        for path in self.scan():
            try:
                event = await self.process(path, time.monotonic())
            except Exception as exc:  # noqa: BLE001 (the store's own failures end the run: exit 3)
                if isinstance(exc, STORE_ERRORS) and is_store_fault(exc):
                    raise
                event = await self._record_failure(path, exc)
            if event is not None:
                events.append(event)
        return events

    async def idle(self) -> None:
        """Wait until every batch found so far is processed (the first scan done, the queue drained)."""
        await self.idle_event.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the directory until ``stop`` is set: what arrived while down first, then new files."""
        from sentinel_tui.engine.follow import FollowLoop

        await FollowLoop(self).run(stop)
