"""Every size works: the status bar drops fields by priority, the feature table shows columns by priority with
no horizontal scrollbar, the filter stays visible, panels take the height their content needs; trends are drawn
on honest scales; an empty directory says what the dashboard waits for."""

from __future__ import annotations

from rich.text import Text

from sentinel_tui.engine.pipeline import ignored_result
from sentinel_tui.engine.view import MonitorView
from sentinel_tui.events import BatchEvent, EngineStats
from sentinel_tui.model import PerformanceResult, Status
from sentinel_tui.tui.alert_tables import AlertLogTable, AlertTable
from sentinel_tui.tui.app import SentinelApp
from sentinel_tui.tui.fit import ColumnSpec, fit_columns, fit_fields
from sentinel_tui.tui.state import batch_age, scaled_blocks, trend_rows
from sentinel_tui.tui.widgets import FeatureTable, StatusBar, TrendPanel

from .tui_fixtures import T0, scenario_events

LONG_DIR = "/srv/models/credit-default/production/incoming/batches"
NOW = T0 + 60 * 9 + 26  # 26 s after the scenario's last batch


def feed(app: SentinelApp, events) -> None:
    for e in events:
        app.on_engine_event(e)
    app.refresh_widgets()


def headers(table) -> list[str]:
    return [str(c.label) for c in table.columns.values()]


async def test_80x24_keeps_the_most_important_of_everything(tmp_path, credit_baseline):
    app = SentinelApp(directory=LONG_DIR, baseline="credit", clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
        await pilot.pause()
        status = str(app.query_one(StatusBar).render())
        assert status.startswith(" ● CRITICAL  2 alerts │ last batch 26s ago │ 9 batches")
        assert LONG_DIR not in status and "rows/s" not in status and "…" not in status  # dropped whole
        await pilot.press("p")
        status = str(app.query_one(StatusBar).render())
        assert "PAUSED" in status and "last batch 26s ago" in status and len(status) <= 80
        features = app.query_one(FeatureTable)
        assert headers(features) == ["feature", "status", "effect", "trend"]
        for table in (features, app.query_one(AlertTable), app.query_one(AlertLogTable)):
            assert not table.show_horizontal_scrollbar
        assert features.size.height == features.row_count + 1  # header and every row: no empty rows
        assert headers(app.query_one(AlertTable)) == ["id", "severity", "kind", "subject", "count", "message"]
        trend = app.query_one("#trend-drift", TrendPanel).render().plain
        assert trend.endswith("22% alarm 50%")  # the threshold beside the value, even at 80 columns
        await pilot.press("slash", *"credit_score_and_some")
        await pilot.pause()
        title = str(app.query_one("#features-title").render())
        assert "filter: credit_score_and_some" in title  # the filter is what stays


async def test_larger_sizes_show_every_column_and_size_panels_by_content(tmp_path, credit_baseline):
    for size, columns in (((120, 40), ["feature", "status", "effect", "trend", "p-value", "statistic"]),
                          ((200, 50), ["feature", "status", "effect", "trend", "p-value", "statistic", "test",
                                       "type"])):
        app = SentinelApp(directory=LONG_DIR, baseline="credit", clock=lambda: NOW)
        async with app.run_test(size=size) as pilot:
            feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
            await pilot.pause()
            features = app.query_one(FeatureTable)
            assert headers(features) == columns  # no column cut: a column shows whole or not at all
            assert sum(c.get_render_width(features) for c in features.columns.values()) < features.size.width
            assert features.size.height == features.row_count + 1
            bottom = app.query_one("#bottom")
            assert bottom.size.height >= size[1] - features.size.height - 4  # the tabs get the rest
            status = str(app.query_one(StatusBar).render())
            if size[0] >= 200:
                assert LONG_DIR in status and "13 rows/s" in status


async def test_an_empty_directory_says_what_it_waits_for(tmp_path):
    app = SentinelApp(directory="watch_dir", baseline="credit")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = app.query_one("#empty")
        assert shown.display and not app.query_one(FeatureTable).display and not app.query_one("#right").display
        text = str(shown.render())
        assert ("waiting for batches in watch_dir (CSV, compressed CSV, frame directories, .npy/.npz); producers "
                "write then rename") in " ".join(text.split())
        fifo = ignored_result(tmp_path / "pipe.csv", "a FIFO, not a regular file: ignored")
        app.on_engine_event(BatchEvent(fifo, 1, None, T0, EngineStats(1, None, None, None, None, Status.OK, 0)))
        app.refresh_widgets()
        await pilot.pause()
        assert "1 entry ignored (not read: see the Batches tab)" in str(shown.render())


def test_fields_and_columns_go_by_priority():
    fields = [(0, Text("light"), ""), (1, Text("2 alerts"), " "), (7, Text("/a/long/dir"), " | "),
              (3, Text("last batch 1s ago"), " | "), (6, Text("10 rows/s"), " | ")]
    assert fit_fields(fields, 100).plain == "light 2 alerts | /a/long/dir | last batch 1s ago | 10 rows/s"
    assert fit_fields(fields, 40).plain == "light 2 alerts | last batch 1s ago"
    assert fit_fields(fields, 8).plain == "light"
    assert fit_fields(fields, 3).plain == "li…"  # only the most important field left is ever cut
    specs = (ColumnSpec("a", "a", 4), ColumnSpec("b", "b", 10, 2), ColumnSpec("c", "c", 3, 3),
             ColumnSpec("m", "m", 0, flex=10))
    assert [(s.key, w) for s, w in fit_columns(specs, 40)] == [("a", 4), ("b", 10), ("c", 3), ("m", 15)]
    # b does not fit: c, less important but smaller, still does, and the message takes what is left
    assert [(s.key, w) for s, w in fit_columns(specs, 27)] == [("a", 4), ("c", 3), ("m", 14)]


def test_trends_on_fixed_scales_with_their_references():
    # accuracy from 0.84 to 0.85 is no cliff on a 0-100% scale; min-max would draw one
    assert scaled_blocks([0.84] * 8 + [0.85] * 8, 0.0, 1.0, 16) == "▇" * 16
    assert scaled_blocks([0.84] * 2 + [0.85] * 2, None, None, 4) == "▁▁██"
    assert scaled_blocks([0.1, 0.2, 0.0], 0.0, 1.0, 2) == "▂▁"  # the last values, the newest on the right
    view = MonitorView()
    view.perf_trend.extend([0.84, 0.85])
    view.f1_trend.extend([0.16])
    view.performance = PerformanceResult("binary", "ok", 500, {"accuracy": 0.85, "f1": 0.16},
                                         {"accuracy": 0.85, "f1": 0.10})
    view.rows_per_second.extend([620.0, 780.0, 754.0])
    rows = {r.key: r for r in trend_rows(view)}
    assert (rows["perf"].value, rows["perf"].note, rows["perf"].low, rows["perf"].high) == ("85%", "ref 85%", 0, 1)
    assert (rows["f1"].value, rows["f1"].note) == ("16%", "ref 10%")
    assert (rows["rows"].value, rows["rows"].note, rows["rows"].low) == ("754", "620-780", None)
    assert not rows["embedding"].values and not rows["drift"].values


def test_the_last_batch_is_an_age_then_a_time():
    assert batch_age(T0, T0 + 26) == "26s ago"
    assert batch_age(T0, T0 + 754) == "12m ago"
    assert batch_age(T0, T0 + 3 * 3600 + 300) == "3h 5m ago"
    assert batch_age(T0, T0 + 2 * 86400) == "at 2026-01-01 00:00:00"


async def test_the_footer_offers_the_keys_of_what_has_focus(tmp_path, credit_baseline):
    app = SentinelApp(directory="d", baseline="b")
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
        await pilot.pause()
        footer_keys = {k for k, active in app.screen.active_bindings.items() if active.binding.show}
        assert {"slash", "s", "enter"} <= footer_keys and not {"a", "u"} & footer_keys
        app.query_one(AlertTable).focus()
        await pilot.pause()
        footer_keys = {k for k, active in app.screen.active_bindings.items() if active.binding.show}
        assert {"a", "enter"} <= footer_keys and not {"u", "slash", "s"} & footer_keys
