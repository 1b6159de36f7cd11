"""Late labels: a label file in the watched directory, joined to the predictions the store keeps."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sentinel_tui.performance.window as lab
from sentinel_tui.engine import store_labels
from sentinel_tui.engine.alertbook import scope
from sentinel_tui.engine.store import Store
from sentinel_tui.events import LabelsEvent
from sentinel_tui.io.csv_reader import BatchReadError
from sentinel_tui.model import AlertKind, AlertRecord, Severity
from sentinel_tui.performance.assess import performance_alerts
from sentinel_tui.textsafe import fs_text

if TYPE_CHECKING:
    from sentinel_tui.engine.monitor import Engine


async def process_label_file(engine: Engine, path: str, file_id: int, display: str | None = None) -> None:
    """A file of late labels: joined to the stored predictions by id; the window and its alerts follow when
    rows were newly labelled. A label file that cannot be read is an incident of its own."""
    now = time.time()
    display = display or path
    name = fs_text(Path(display).name)
    try:
        labels = await asyncio.to_thread(lab.read_label_file, Path(path), engine.baseline, engine.settings)
    except BatchReadError as exc:
        # Labels that could not be read are data that was never checked: an incident of their own.
        record = AlertRecord(AlertKind.PIPELINE, Severity.CRITICAL, name, f"{name}: {exc.reason}")
        with engine.store.transaction() as db:
            Store.mark_done(db, file_id, now)
            alert_events = engine.judge(db, scope("labels", name, False), [record], Store.last_batch_id(db))
        engine.publish(LabelsEvent(fs_text(display), 0, 0, 0, engine.window, now, reason=exc.reason))
        engine.publish_all(alert_events)
        return
    with engine.store.transaction() as db:
        matched, unmatched, newly = store_labels.apply_labels(db, labels.labels, now)
        store_labels.record_label_file(db, file_id, display, labels.rows, matched, unmatched, now)
        if newly:
            engine.window = lab.window_performance(db, engine.baseline, engine.settings)
        records = performance_alerts(engine.window, None) if newly else []
        alert_events = engine.judge(db, scope("labels", name, bool(newly)), records, Store.last_batch_id(db))
    engine.publish(LabelsEvent(fs_text(display), labels.rows, matched, unmatched, engine.window, now))
    engine.publish_all(alert_events)
