"""An alert's state history and batches in the monitor view (what the alert detail screen shows), and
withdrawing an acknowledgement: in the store, as an event at its own time, and in a viewer."""

from __future__ import annotations

from sentinel_tui.engine.store import Store
from sentinel_tui.engine.view import MonitorView

from .helpers import credit_batch, write
from .test_engine import drifted, make_engine


async def test_history_steps_batches_and_unacknowledge(tmp_path, credit_baseline):
    engine, events = make_engine(tmp_path, credit_baseline)
    for i in range(3):
        await engine.process(str(write(drifted(10 + i), tmp_path / f"d{i}.csv")))
    alert = next(a for a in engine.open_alerts() if a.subject == "income")
    steps = engine.view.histories.steps[alert.id]
    assert [s.change for s in steps] == ["opened", "updated"]
    assert steps[1].repeats == 2 and steps[1].until is not None and steps[1].until >= steps[1].at
    assert engine.view.histories.batches[alert.id] == [1, 2, 3]

    engine.acknowledge(alert.id)
    acked = engine.view.alerts[alert.id]
    assert acked.status == "acknowledged"
    assert engine.view.alert_log[-1].change == "acknowledged"
    assert engine.view.alert_log[-1].when == acked.acknowledged_at  # its own time, not the last update's

    engine.unacknowledge(alert.id)
    again = engine.view.alerts[alert.id]
    assert again.status == "open" and again.acknowledged_at is None
    assert engine.store.alert(alert.id).status == "open"
    last = engine.view.alert_log[-1]
    assert last.change == "unacknowledged" and last.at is not None and last.at >= acked.acknowledged_at
    assert [s.change for s in engine.view.histories.steps[alert.id]][-2:] == ["acknowledged", "unacknowledged"]
    engine.unacknowledge(alert.id)  # not acknowledged: nothing written, nothing published
    assert engine.view.alert_log[-1] is last

    # loaded again from the store: the stored times tell the history
    reloaded = MonitorView.load(Store(tmp_path / ".sentinel"))
    told = reloaded.histories.steps[alert.id]
    assert [s.change for s in told] == ["opened", "updated"] and all(s.stored for s in told)
    assert told[1].repeats == 2 and reloaded.histories.batches[alert.id] == [1, 3]


async def test_a_viewer_sees_an_acknowledgement_withdrawn(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    await engine.process(str(write(drifted(2), tmp_path / "b0.csv")))
    alert = next(a for a in engine.open_alerts() if a.subject == "income")
    engine.acknowledge(alert.id)
    viewer_store = Store(tmp_path / ".sentinel")
    viewer = MonitorView.load(viewer_store)
    assert viewer.alerts[alert.id].status == "acknowledged"
    engine.unacknowledge(alert.id)
    assert viewer.follow_store(viewer_store)
    assert viewer.alerts[alert.id].status == "open"
    assert viewer.alert_log[-1].change == "unacknowledged"
    assert not viewer.follow_store(viewer_store)  # seen once
    await engine.process(str(write(credit_batch(500, 3), tmp_path / "b1.csv")))
    assert viewer.follow_store(viewer_store)
    assert [e.change for e in viewer.alert_log].count("unacknowledged") == 1  # not logged again
