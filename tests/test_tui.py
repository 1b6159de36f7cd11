"""The dashboard driven by its Pilot: every key and screen, history on start, untrusted text."""

from __future__ import annotations

import subprocess
import sys

from rich.text import Text
from textual.widgets import DataTable, Input

from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.tui.alert_tables import AlertTable
from sentinel_tui.tui.app import SentinelApp
from sentinel_tui.tui.screens import FeatureDetailScreen, HelpScreen
from sentinel_tui.tui.widgets import FeatureTable, StatusBar

from .conftest import credit_settings
from .helpers import credit_batch, until, write
from .tui_fixtures import scenario_events


def feed(app: SentinelApp, events) -> None:
    for e in events:
        app.on_engine_event(e)
    app.refresh_widgets()


def feature_order(app: SentinelApp) -> list[str]:
    table = app.query_one(FeatureTable)
    return [table.get_row_at(i)[0].plain for i in range(table.row_count)]


def status_line(app: SentinelApp) -> str:
    return str(app.query_one(StatusBar).render())


async def test_events_turn_the_light_red_and_sort_the_worst_first(tmp_path, credit_baseline):
    app = SentinelApp(directory="watch_dir", baseline="credit")
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=False))
        await pilot.pause()
        assert "OK" in status_line(app) and "6 batches" in status_line(app)
        assert app.query_one(FeatureTable).row_count == 9
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True)[6:])
        await pilot.pause()
        assert "CRITICAL" in status_line(app) and "2 alerts" in status_line(app)
        assert set(feature_order(app)[:2]) == {"income", "credit_score"}
        assert app.query_one("#alerts", DataTable).row_count == 2
        assert app.query_one("#batches", DataTable).row_count == 9


async def test_rows_are_updated_in_place_not_rebuilt(tmp_path, credit_baseline):
    app = SentinelApp(directory="d", baseline="b")
    events = scenario_events(tmp_path, credit_baseline, drifting=True)
    async with app.run_test() as pilot:
        feed(app, events[:1])
        await pilot.pause()
        table = app.query_one(FeatureTable)
        table.move_cursor(row=3)
        keys_before = set(table.rows)
        feed(app, events[1:])
        await pilot.pause()
        assert set(table.rows) == keys_before  # same row keys: no clear() and re-add
        assert table.cursor_row == 3  # the user's place is kept


async def test_keys_filter_sort_help_detail(tmp_path, credit_baseline):
    app = SentinelApp(directory="d", baseline="b")
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app, scenario_events(tmp_path, credit_baseline, drifting=True))
        await pilot.press("slash")
        assert app.focused is app.query_one("#filter", Input)
        await pilot.press(*"inc")
        await pilot.pause()
        assert feature_order(app) == ["income"]
        await pilot.press("escape")
        assert app.focused is app.query_one(FeatureTable)
        assert feature_order(app) == ["income"]  # the filter stays until cleared
        await pilot.press("slash", "backspace", "backspace", "backspace", "enter")
        assert len(feature_order(app)) == 9
        orders = []
        for _ in range(4):
            await pilot.press("s")
            orders.append((app.sort_mode, feature_order(app)))
        assert [m for m, _ in orders] == ["effect", "p-value", "name", "severity"]
        assert orders[2][1] == sorted(orders[2][1])
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        table = app.query_one(FeatureTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        assert isinstance(app.screen, FeatureDetailScreen)
        assert app.screen.feature_name in ("income", "credit_score")
        await pilot.press("escape")
        assert not isinstance(app.screen, FeatureDetailScreen)
        focused = app.focused
        await pilot.press("tab")
        assert app.focused is not focused


async def test_pause_acknowledge_and_palette_with_a_real_engine(tmp_path, credit_baseline):
    engine = Engine(tmp_path, credit_baseline, credit_settings(), Store(tmp_path / ".sentinel"))
    app = SentinelApp(engine, directory=str(tmp_path), baseline="credit", follow=False)
    notices: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify = lambda message, **kw: notices.append(str(message))  # type: ignore[method-assign]
        df = credit_batch(600, 1)
        df["income"] *= 2
        await engine.process(str(write(df, tmp_path / "d.csv")))
        app.refresh_widgets()
        await pilot.pause()
        assert app.query_one("#alerts", DataTable).row_count >= 1
        await pilot.press("p")
        assert engine.paused and "PAUSED" in status_line(app)
        await pilot.press("p")
        assert not engine.paused
        await pilot.press("a")  # the feature table has focus: nothing is acknowledged, the notice says where
        await pilot.pause()
        assert not [a for a in engine.open_alerts() if a.status == "acknowledged"]
        assert "Alerts tab" in notices[-1]
        app.query_one(AlertTable).focus()
        await pilot.press("a")
        await pilot.pause()
        acked = [a for a in engine.open_alerts() if a.status == "acknowledged"]
        assert len(acked) == 1 and engine.store.alert(acked[0].id).status == "acknowledged"
        assert notices[-1].startswith(f"acknowledged alert #{acked[0].id}")
        assert "(1 acknowledged)" in status_line(app) and "CRITICAL" in status_line(app)  # still counts
        await pilot.press("u")
        await pilot.pause()
        assert engine.store.alert(acked[0].id).status == "open" and "acknowledged" not in status_line(app)
        await pilot.press("ctrl+p")
        await pilot.press(*"pause or resume")
        from textual.widgets import OptionList

        def listed() -> bool:  # the palette searches asynchronously: wait for its result list
            options = app.screen.query(OptionList)
            return bool(options and options.first().option_count)

        await until(listed, timeout=10)
        await pilot.press("enter")
        await pilot.pause()
        assert engine.paused


async def test_history_is_shown_before_any_new_batch(tmp_path, credit_baseline):
    engine = Engine(tmp_path, credit_baseline, credit_settings(), Store(tmp_path / ".sentinel"))
    for i in range(3):
        df = credit_batch(500, i)
        df["income"] *= 2
        await engine.process(str(write(df, tmp_path / f"d{i}.csv")))
    engine.store.close()
    again = Engine(tmp_path, credit_baseline, credit_settings(), Store(tmp_path / ".sentinel"))
    app = SentinelApp(again, directory=str(tmp_path), baseline="credit", follow=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert feature_order(app)[0] == "income"
        assert "CRITICAL" in status_line(app) and "3 batches" in status_line(app)
        assert app.query_one("#batches", DataTable).row_count == 3
        assert len(app.view.drift_share) == 3
        assert list(app.view.feature_trends["income"]) == list(again.view.feature_trends["income"])


async def test_untrusted_feature_name_renders_literally(tmp_path, credit_baseline):
    from dataclasses import replace

    nasty = "[bold red]x\x1b[2J"
    (event,) = scenario_events(tmp_path, credit_baseline, drifting=False)[:1]
    drift = event.result.drift
    feats = dict(drift.features)
    feats[nasty] = replace(feats.pop("income"), feature=nasty)
    result = replace(event.result, drift=replace(drift, features=feats), file="[blink]evil\x07.csv")
    app = SentinelApp(directory="[red]dir", baseline="b")
    async with app.run_test(size=(120, 30)) as pilot:
        feed(app, [replace(event, result=result)])
        await pilot.pause()
        names = feature_order(app)
        assert "[bold red]x\\x1b[2J" in names
        cell = app.query_one(FeatureTable).get_row_at(names.index("[bold red]x\\x1b[2J"))[0]
        assert isinstance(cell, Text) and cell.style != "bold red"
        assert "[red]dir" in status_line(app)
        batch_cell = app.query_one("#batches", DataTable).get_row_at(0)[0]
        assert batch_cell.plain == "[blink]evil\\x07.csv"
        table = app.query_one(FeatureTable)
        table.move_cursor(row=names.index("[bold red]x\\x1b[2J"))
        table.focus()
        await pilot.press("enter")
        assert app.screen.feature_name == nasty


def test_engine_and_statistics_do_not_import_textual():
    code = ("import sys; import sentinel_tui.cli.commands, sentinel_tui.engine.monitor, sentinel_tui.checks.drift, "
            "sentinel_tui.report.headless, sentinel_tui.report.text, sentinel_tui.integrations.actions, "
            "sentinel_tui.integrations.prometheus, sentinel_tui.integrations.attach, sentinel_tui.cli.watch; "
            "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


async def test_performance_panel_appears_with_labels(tmp_path, credit_baseline):
    import numpy as np

    from sentinel_tui.report.headless import HeadlessPrinter
    from sentinel_tui.simulate.tabular import Shift, generate
    from sentinel_tui.tui.widgets import TextLine, TrendPanel

    engine = Engine(tmp_path, credit_baseline, credit_settings(), Store(tmp_path / ".sentinel"))
    app = SentinelApp(engine, directory=str(tmp_path), baseline="credit", follow=False)
    lines: list[str] = []
    engine.subscribe(lambda e: lines.append(HeadlessPrinter.text(e)))
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.query_one("#trend-perf", TrendPanel).has_class("has-data")  # no labels yet: hidden
        for i in range(9):
            df = generate(500, np.random.default_rng(900 + i), Shift(concept=1.0 if i >= 5 else 0.0),
                          start_id=i * 500)
            df.to_csv(tmp_path / f"b{i}.csv", index=False)
            await engine.process(str(tmp_path / f"b{i}.csv"))
        app.refresh_widgets()
        await pilot.pause()
        assert app.query_one("#trend-perf", TrendPanel).has_class("has-data")
        assert app.query_one("#trend-f1", TrendPanel).has_class("has-data")
        text = str(app.query_one("#performance", TextLine).render())
        assert "degraded" in text and "confusion" in text and "region=EU" in text
    assert any("performance=degraded" in x for x in lines)
