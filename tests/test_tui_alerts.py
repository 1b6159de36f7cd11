"""The alert detail screen (Enter on an alert in the Alerts tab or the Alert log) and acknowledging: the whole
message, evidence, first and last seen, count, batches, state history with times; acknowledge and withdraw
from there; the log stamps each change at its own time."""

from __future__ import annotations

from rich.console import Console
from textual.widgets import TabbedContent

from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.engine.view import MonitorView
from sentinel_tui.events import AlertEvent
from sentinel_tui.model import PerformanceResult
from sentinel_tui.tui.alert_detail import AlertDetailScreen, evidence
from sentinel_tui.tui.alert_tables import AlertLogTable, AlertTable
from sentinel_tui.tui.app import SentinelApp
from sentinel_tui.tui.widgets import FeatureTable, StatusBar

from .conftest import credit_settings
from .helpers import credit_batch, until, write
from .test_engine import drifted
from .tui_fixtures import T0, alert, scenario_events

LONG = ("'income' drifted: ks p=1e-60 (< 0.0005), wasserstein_norm 0.62 (>= 0.1), mean shift +0.60 std; "
        "this message goes on well past any column: the rest of it is only in the detail screen, where it "
        "wraps and ends with the word WATERMELON")


def plain(renderable, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def words(text: str) -> str:
    return " ".join(text.split())


def feed(app: SentinelApp, events) -> None:
    for e in events:
        app.on_engine_event(e)
    app.refresh_widgets()


def capture(app: SentinelApp) -> list[str]:
    notices: list[str] = []
    app.notify = lambda message, **kw: notices.append(str(message))  # type: ignore[method-assign]
    return notices


async def test_enter_on_an_alert_shows_all_of_it_and_acknowledges_from_there(tmp_path, credit_baseline):
    events = scenario_events(tmp_path, credit_baseline, drifting=True)
    events[-2] = AlertEvent("opened", alert(1, "income", LONG))
    app = SentinelApp(directory="watch_dir", baseline="b", clock=lambda: T0 + 5000)
    async with app.run_test(size=(80, 24)) as pilot:
        notices = capture(app)
        feed(app, events)
        await pilot.pause()
        table = app.query_one(AlertTable)
        assert "WATERMELON" not in words(app.export_screenshot())  # cut in the table, with an ellipsis
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, AlertDetailScreen) and screen.alert_id == 1
        text = words(plain(screen.body, 80))
        assert words(LONG) in text  # the whole message, wrapped
        for expected in ("first seen 2026-01-01 00:01:00", "last seen 2026-01-01 00:01:00", "count 1 failing",
                         "batches #1 batch_00000.csv", "state history", "2026-01-01 00:01:00 opened critical #1",
                         "test ks", "p-value", "effect size", "wasserstein_norm", "evidence (latest table batch #9"):
            assert expected in text, expected
        assert screen.check_action("acknowledge", ()) and not screen.check_action("unacknowledge", ())

        await pilot.press("a")
        await pilot.pause()
        assert app.view.alerts[1].status == "acknowledged" and app.view.alerts[1].acknowledged_at == T0 + 5000
        text = words(plain(screen.body, 100))
        assert "ACKNOWLEDGED" in screen.title_text.plain
        assert "2026-01-01 01:23:20 acknowledged" in text and "acknowledged 2026-01-01 01:23:20" in text
        assert not screen.check_action("acknowledge", ()) and screen.check_action("unacknowledge", ())
        assert notices[-1].startswith("acknowledged alert #1 (drift income)")
        await pilot.press("u")
        await pilot.pause()
        assert app.view.alerts[1].status == "open"
        assert "unacknowledged" in words(plain(screen.body, 100))
        assert notices[-1] == "alert #1 (drift income) is no longer acknowledged"

        await pilot.press("escape")
        assert app.screen is not screen and app.focused is table and table.cursor_row == 0


async def test_acknowledging_is_visible_in_the_row_the_status_bar_and_the_log(tmp_path, credit_baseline):
    app = SentinelApp(directory="watch_dir", baseline="b", clock=lambda: T0 + 5000)
    async with app.run_test(size=(120, 40)) as pilot:
        notices = capture(app)
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
        await pilot.pause()
        table = app.query_one(AlertTable)
        await pilot.press("a")  # focus on the feature table: the rule says where 'a' acts
        assert app.focused is app.query_one(FeatureTable) and app.view.alerts[1].status == "open"
        assert "Alerts tab" in notices[-1]
        await pilot.press("tab", "tab")
        assert app.focused is table
        await pilot.press("a")
        await pilot.pause()
        assert app.view.alerts[1].status == "acknowledged"
        status = str(app.query_one(StatusBar).render())
        assert "2 alerts (1 acknowledged)" in status and "CRITICAL" in status  # acknowledged still counts
        row = table.get_row_at(0)
        assert [str(c) for c in row[:4]] == ["1", "critical", "drift", "income"]
        assert all("dim" in str(c.style) for c in row)  # the row is dimmed...
        labels = [str(table.rows[k].label) for k in table.rows]
        assert labels == ["ack", "   "]  # ...and marked, in a fixed-width mark before it
        assert not table.check_action("acknowledge", ()) and table.check_action("unacknowledge", ())
        await pilot.press("a")  # already acknowledged: said so, nothing changes
        assert "already acknowledged" in notices[-1]
        log = app.query_one(AlertLogTable)
        last = log.get_row_at(log.row_count - 1)
        assert [str(c) for c in last[:2]] == ["01:23:20", "acknowledged"]  # its own time, not 00:01:00
        assert log.alert_ids[log.coordinate_to_cell_key((log.row_count - 1, 0)).row_key.value] == 1


async def test_enter_in_the_alert_log_opens_that_alert(tmp_path, credit_baseline):
    app = SentinelApp(directory="watch_dir", baseline="b")
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
        await pilot.pause()
        app.query_one(TabbedContent).active = "tab-log"
        log = app.query_one(AlertLogTable)
        log.focus()
        await pilot.pause()
        log.move_cursor(row=1)
        await pilot.press("enter")
        assert isinstance(app.screen, AlertDetailScreen) and app.screen.alert_id == 2
        assert "credit_score" in app.screen.title_text.plain


async def test_detail_with_a_real_engine_batches_history_resolution(tmp_path, credit_baseline):
    engine = Engine(tmp_path, credit_baseline, credit_settings(), Store(tmp_path / ".sentinel"))
    app = SentinelApp(engine, directory=str(tmp_path), baseline="credit", follow=False)
    async with app.run_test(size=(120, 40)) as pilot:
        notices = capture(app)
        for i in range(3):
            await engine.process(str(write(drifted(10 + i), tmp_path / f"d{i}.csv")))
        app.refresh_widgets()
        await pilot.pause()
        income = next(a for a in engine.open_alerts() if a.subject == "income")
        app.push_screen(AlertDetailScreen(income.id, app.view, app.clock_format))
        await pilot.pause()
        text = words(plain(app.screen.body, 120))
        assert "batches #1 d0.csv, #2 d1.csv, #3 d2.csv" in text and "count 3 failing observations" in text
        assert " opened critical #1" in text and "updated x2 critical #2-#3 until" in text
        await pilot.press("a")
        await pilot.pause()
        assert engine.store.alert(income.id).status == "acknowledged"
        await pilot.press("escape")
        for i in range(2):  # clean batches resolve it
            await engine.process(str(write(credit_batch(600, 20 + i), tmp_path / f"c{i}.csv")))
        app.refresh_widgets()
        await pilot.pause()
        assert income.id not in app.view.alerts
        app.push_screen(AlertDetailScreen(income.id, app.view, app.clock_format))  # from the log: it is kept
        await pilot.pause()
        text = words(plain(app.screen.body, 120))
        assert "RESOLVED" in app.screen.title_text.plain and " resolved " in text
        assert not app.screen.check_action("acknowledge", ())
        await pilot.press("a")
        assert "resolved: there is nothing to acknowledge" in notices[-1]


def test_evidence_of_a_performance_alert_names_value_interval_and_reference():
    view = MonitorView()
    view.performance = PerformanceResult(
        task="binary", status="degraded", labelled_rows=1200, metrics={"accuracy": 0.71},
        reference={"accuracy": 0.85}, degraded={"accuracy": True}, intervals={"accuracy": [0.68, 0.74]},
        message="accuracy 0.71 below the reference 0.85", scope="window")
    a = alert(3, "accuracy", "accuracy degraded", kind="performance")
    text = words(plain(evidence(view, a)[1]))
    assert "value 0.710" in text and "interval [0.680, 0.740] (99.9%)" in text and "reference 0.850" in text
    assert "verdict degraded" in text
    assert "1200 labelled rows" in plain(evidence(view, a)[0])


async def test_the_detail_follows_the_alert_while_it_is_shown(tmp_path, credit_baseline):
    """Redraws reach the main screen and the detail shown (the status bar's age ticks meanwhile)."""
    from dataclasses import replace

    app = SentinelApp(directory="watch_dir", baseline="b", clock=lambda: T0 + 5000)
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
        await pilot.pause()
        app.push_screen(AlertDetailScreen(2, app.view, app.clock_format))
        await pilot.pause()
        before = app.view.alerts[2]
        later = replace(before, count=4, updated_at=T0 + 4000, last_batch_id=9, severity="warning")
        app.on_engine_event(AlertEvent("updated", later, previous_severity="critical", at=T0 + 4000))
        # the next redraw tick shows the update, and the next status tick the age
        await until(lambda: "count 4 failing observations" in words(plain(app.screen.body, 100)), timeout=10)
        await until(lambda: "last batch" in str(app.main.query_one(StatusBar).render()), timeout=10)
        text = words(plain(app.screen.body, 100))
        assert "count 4 failing observations" in text and "de-escalated warning #9" in text
        assert "batches #2 batch_00001.csv, #9 batch_00008.csv" in text
        assert "last batch" in str(app.main.query_one(StatusBar).render())


def test_evidence_of_a_dataset_alert_shows_the_mean_shift_and_what_moved():
    """The dataset-level test's numbers against its thresholds, and the features whose means moved most (their
    names escaped: they come from the data)."""
    from sentinel_tui.engine.view import DriftVerdict

    view = MonitorView()
    view.drift = DriftVerdict(0.0, 0, 5, False, 0.5, {
        "test": "mean_shift", "statistic": 80.0, "p_value": 1e-9, "p_threshold": 0.0025, "effect": 0.42,
        "effect_threshold": 0.1, "fired": True, "severity": "critical", "dimensions": 9, "rows": 300,
        "top": [{"feature": "a[red]", "category": None, "shift_std": 0.21},
                {"feature": "region", "category": "north", "shift_std": -0.1}], "explained": False})
    a = alert(4, "dataset", "dataset shift: the batch's mean moved 0.42 std", kind="drift")
    text = words(plain(evidence(view, a)[1], 120))
    assert "dataset test mean_shift over 9 dimensions" in text and "(threshold 0.003)" in text
    assert "mean shift 0.420 std (threshold 0.100)" in text and "test verdict fired" in text
    assert "moved most a[red] +0.21 std, region=north -0.10 std" in text
