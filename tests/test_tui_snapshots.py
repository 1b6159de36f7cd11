"""SVG snapshots of the dashboard (pytest-textual-snapshot). Update with `pytest --snapshot-update` after
checking snapshot_report.html; renders depend on the Textual version pinned in pyproject's dev extra."""

from __future__ import annotations

import pytest

from sentinel_tui.tui.app import SentinelApp

from .tui_fixtures import scenario_events


@pytest.fixture(scope="module")
def events(credit_baseline, tmp_path_factory):
    out = {}
    for state in ("healthy", "drifting"):
        directory = tmp_path_factory.mktemp(state)
        out[state] = scenario_events(directory, credit_baseline, drifting=state == "drifting")
    return out


def _app() -> SentinelApp:
    # Every time shown comes from the events' fixed timestamps, so renders are reproducible.
    return SentinelApp(directory="watch_dir", baseline="demo")


def _feeder(evs, keys=()):
    async def run_before(pilot) -> None:
        for e in evs:
            pilot.app.on_engine_event(e)
        pilot.app.refresh_widgets()
        await pilot.pause()
        for k in keys:
            await pilot.press(k)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
@pytest.mark.parametrize("state", ["healthy", "drifting"])
def test_main_screen(snap_compare, events, state, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_feeder(events[state]))


def test_detail_screen(snap_compare, events):
    assert snap_compare(_app(), terminal_size=(100, 34), run_before=_feeder(events["drifting"], keys=("enter",)))
