"""The monitor view, the one read model: what the engine's events build equals what the store holds, and a
viewer follows another process's store incrementally (new rows only), alert changes and acknowledgements
included."""

from __future__ import annotations

from sentinel_tui.engine.store import Store
from sentinel_tui.engine.view import MonitorView

from .helpers import credit_batch, write
from .test_engine import drifted, make_engine


def summary(view: MonitorView) -> dict:
    return {
        "batches": [(b.batch_id, b.file, b.rows, b.status, b.drift_share) for b in view.batches],
        "total": view.batches_total,
        "alerts": sorted((a.id, a.kind, a.subject, a.severity, a.status, a.count) for a in view.alerts.values()),
        "features": sorted((n, f.drifted, round(f.effect_size, 9)) for n, f in view.features.items()),
        "drift": view.drift,
        "trends": {n: [round(v, 9) for v in t] for n, t in view.feature_trends.items()},
        "drift_share": list(view.drift_share),
        "status": view.status,
    }


async def test_the_engines_view_equals_the_store_loaded_again(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    for i, df in enumerate([credit_batch(500, 1), drifted(2), drifted(3), credit_batch(500, 4)]):
        await engine.process(str(write(df, tmp_path / f"b{i}.csv")))
    reloaded = MonitorView.load(Store(tmp_path / ".sentinel"), engine.settings.watch.history)
    assert summary(engine.view) == summary(reloaded)
    assert summary(reloaded)["alerts"]  # the drift alert is open: the comparison covers alerts
    assert engine.view.stats().batches == reloaded.stats().batches == 4


async def test_a_viewer_follows_the_store_incrementally(tmp_path, credit_baseline):
    engine, _ = make_engine(tmp_path, credit_baseline)
    await engine.process(str(write(credit_batch(500, 1), tmp_path / "b0.csv")))
    viewer = MonitorView.load(Store(tmp_path / ".sentinel"), engine.settings.watch.history)
    viewer_store = Store(tmp_path / ".sentinel")
    first = viewer.batches[0]
    assert not viewer.follow_store(viewer_store)  # nothing new: no change, no revision bumped
    before = dict(viewer.revision)
    assert not viewer.follow_store(viewer_store) and viewer.revision == before

    await engine.process(str(write(drifted(2), tmp_path / "b1.csv")))
    assert viewer.follow_store(viewer_store)
    assert viewer.batches[0] is first  # the rows already seen are kept, not reloaded
    assert summary(viewer) == summary(engine.view)
    logged = [(e.change, e.alert.subject) for e in viewer.alert_log]
    assert ("opened", "income") in logged
    assert viewer.revision["features"] > before["features"] and viewer.revision["log"] > before["log"]

    # an acknowledgement made elsewhere (`sentinel alerts ... ack`) reaches the viewer
    alert = next(a for a in engine.open_alerts() if a.subject == "income")
    engine.acknowledge(alert.id)
    assert viewer.follow_store(viewer_store)
    assert viewer.alerts[alert.id].status == "acknowledged"
    assert summary(viewer) == summary(engine.view)
