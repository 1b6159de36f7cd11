"""SVG snapshots of the dashboard (pytest-textual-snapshot) at 80x24, 120x40 and 200x50. Update with
`pytest --snapshot-update` after checking snapshot_report.html; renders depend on the Textual version pinned in
pyproject's dev extra."""

from __future__ import annotations

import pytest

from sentinel_tui.tui.app import SentinelApp

from .tui_fixtures import T0, scenario_events

SIZES = [(80, 24), (120, 40), (200, 50)]
NOW = T0 + 60 * 9 + 26  # 26 s after the scenario's last batch


@pytest.fixture(scope="module")
def events(credit_baseline, tmp_path_factory):
    out = {}
    for state in ("healthy", "drifting"):
        directory = tmp_path_factory.mktemp(state)
        out[state] = scenario_events(directory, credit_baseline, drifting=state == "drifting")
    return out


def _app() -> SentinelApp:
    # Every time shown comes from the events' fixed timestamps and a fixed clock, so renders are reproducible.
    return SentinelApp(directory="watch_dir", baseline="demo", clock=lambda: NOW)


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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_drifting(snap_compare, events, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_feeder(events["drifting"]))


def test_healthy_80x24(snap_compare, events):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feeder(events["healthy"]))


def test_empty_80x24(snap_compare):
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feeder([]))


def test_acknowledged_80x24(snap_compare, events):
    """The first alert acknowledged from the Alerts table: dimmed, marked, counted in the status bar."""
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_feeder(events["drifting"], keys=("tab", "tab",
                                                                                                      "a")))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_alert_detail(snap_compare, events, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_feeder(events["drifting"],
                                                                       keys=("tab", "tab", "enter")))


def test_feature_detail(snap_compare, events):
    assert snap_compare(_app(), terminal_size=(100, 34), run_before=_feeder(events["drifting"], keys=("enter",)))
