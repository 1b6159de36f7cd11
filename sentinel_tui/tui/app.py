"""The Textual dashboard: drawn on a timer from the engine's ``MonitorView``.

The engine runs as an async worker of the app, on the app's own loop, and keeps the view current; a 4 Hz timer
redraws the sections whose revision changed since the last redraw, inside ``batch_update``. So a burst of
results is one repaint. A viewer's view follows the store instead (another process's engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static, TabbedContent, Tabs
from textual.worker import Worker, WorkerState

from sentinel_tui.engine.view import SECTIONS, MonitorView
from sentinel_tui.events import AlertEvent, BatchEvent, LabelsEvent
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.alert_detail import AlertDetailScreen
from sentinel_tui.tui.alert_tables import AckRequest, AlertLogTable, AlertTable, BatchTable
from sentinel_tui.tui.keys import KEYS, NOTES, SentinelCommands
from sentinel_tui.tui.main_screen import FEATURES_HEIGHT, FORMATS, NARROW, MainScreen, compose_main
from sentinel_tui.tui.screens import FeatureDetailScreen, HelpScreen, frames_text, performance_text
from sentinel_tui.tui.state import DashboardState, trend_rows
from sentinel_tui.tui.widgets import (
    FeatureTable,
    FieldsLine,
    StatusBar,
    TextLine,
    TrendPanel,
    feature_cells,
    feature_sort_key,
    status_fields,
    trend_columns,
)

SORT_MODES = ("severity", "effect", "p-value", "name")
OFFSCREEN_ROWS_PER_REDRAW = 150
REFRESH_SECONDS = 0.25
VIEWER_POLL_SECONDS = 1.0  # a viewer re-reads the store this often (one indexed query when nothing changed)
class SentinelApp(App):
    TITLE = "Sentinel"
    COMMANDS = App.COMMANDS | {SentinelCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Help"),
        # Where no alert has focus, these say where they act (the Alerts table and an alert's detail bind them).
        Binding("a", "acknowledge", "Ack", show=False),
        Binding("u", "unacknowledge", "Unack", show=False),
    ]

    def __init__(self, engine=None, *, directory: str = "", baseline: str = "", follow: bool = True,
                 viewer: bool = False, theme: str = "textual-dark", clock_format: str = "%H:%M:%S",
                 clock: Callable[[], float] = time.time):
        super().__init__()
        self.engine = engine
        self.follow = follow and engine is not None and not viewer
        # A viewer shows what another process's engine writes to the store (a second dashboard on the same
        # directory, every browser session of `sentinel serve`): it polls the store and analyses nothing.
        self.viewer = viewer and engine is not None
        self.view: MonitorView = engine.view if engine is not None else MonitorView()
        self.state = DashboardState(self.view, directory=directory, baseline=baseline, viewer=self.viewer,
                                    engine=engine is not None)
        self._drawn: dict[str, int] = {}  # section -> the view's revision last drawn
        self._dirty: set[str] = set()  # sections to redraw for the dashboard's own reasons (filter, sort, pause)
        self.sort_mode = SORT_MODES[0]
        self.filter_text = ""
        self.clock_format = clock_format
        self.clock = clock  # the time the last batch's age is measured against (fixed in snapshot tests)
        self._initial_theme = theme
        self._stop = asyncio.Event()
        self._paused = False
        self._next_redraw = 0.0
        self._age_second = 0  # the second the status bar's age was last drawn for
        self._cells: dict[str, tuple[dict, tuple]] = {}  # feature -> (the result it was drawn from, cells)
        self._features_want_focus = False  # focus left the empty feature table: it returns with the features
        # Widgets are looked up on the main screen: a query on the app looks at the screen shown with older
        # Textual releases, and the main screen is redrawn while a detail screen is shown too.
        self.main = MainScreen()

    # composition ---------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield from compose_main()

    def get_default_screen(self) -> Screen:
        return self.main

    def on_mount(self) -> None:
        self.theme = self._initial_theme
        self.main.query_one("#trends").border_title = "trends"
        # The Frames tab appears with the first frame batch: tabular-only users never see an empty tab.
        self.main.query_one(TabbedContent).hide_tab("tab-frames")
        self.refresh_widgets()
        self.set_interval(REFRESH_SECONDS, self._tick)
        if self.follow:
            self.run_worker(self.engine.run(self._stop), name="engine", exit_on_error=False)
        if self.viewer:
            self.set_interval(VIEWER_POLL_SECONDS, self.engine.follow_store)
        if self.view.features:  # else it gets focus with the first table batch (see _draw_empty)
            self.main.query_one(FeatureTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The filter and the sort act on the feature table: offered only where it is shown."""
        if action in ("filter", "cycle_sort"):
            return isinstance(self.screen, MainScreen)
        return True

    def on_resize(self, event: events.Resize) -> None:
        self.main.query_one(FeatureTable).styles.max_height = max(4, int(event.size.height * FEATURES_HEIGHT))
        self.main.set_class(event.size.width < NARROW, "narrow")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The engine's run ended with an error (it supervises its own tasks, so this is a start-up failure
        or a bug): never a dashboard that looks healthy while nothing is analysed."""
        if event.worker.name == "engine" and event.state == WorkerState.ERROR and self.engine is not None:
            error = event.worker.error
            self.engine.report_fault("engine", f"the monitor stopped: {error!r}; restart sentinel")
            self.notify(clean(f"the monitor stopped: {error!r}"), title="Sentinel", severity="error", timeout=30,
                        markup=False)

    # events --------------------------------------------------------------------------------------------
    def on_engine_event(self, event: BatchEvent | AlertEvent | LabelsEvent) -> None:
        """Events for a dashboard without an engine (screenshots, tests): an engine keeps its view itself."""
        if self.engine is None:
            self.view.apply(event)  # plain state only; widgets are redrawn by the timer

    # drawing -------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        if not self.main.query(FeatureTable):
            return  # the main screen's widgets are gone: the app is shutting down (a tick can still fire)
        # Adaptive: after a redraw that took d seconds, wait at least 3d before the next one, so the loop
        # stays mostly free for keys however large the table is.
        if time.monotonic() >= self._next_redraw:
            started = time.monotonic()
            self.refresh_widgets()
            self._next_redraw = started + 3 * (time.monotonic() - started)
        if int(self.clock()) != self._age_second and self.view.last_batch_at is not None:
            self._draw_status()  # the last batch's age, once a second

    def stale_sections(self) -> set[str]:
        """Sections to redraw: those whose revision in the view changed since the last redraw, and those the
        dashboard itself changed (filter, sort, pause)."""
        return {s for s in SECTIONS if self.view.revision[s] != self._drawn.get(s)} | self._dirty

    def refresh_widgets(self) -> None:
        st = self.view
        dirty = self.stale_sections()
        if not dirty:
            return
        self._drawn, self._dirty = dict(st.revision), set()
        with self.batch_update():
            if dirty & {"status", "alerts", "batches"}:
                self._draw_status()
            if "features" in dirty or "trends" in dirty or "filter" in dirty or "frames" in dirty:
                self._draw_features()
            if "trends" in dirty:
                rows = trend_rows(st)
                columns = trend_columns(rows)
                for row in rows:
                    self.main.query_one(f"#trend-{row.key}", TrendPanel).show(row, columns)
                self.main.query_one("#right").set_class(any(r.values for r in rows), "shown")
            if "frames" in dirty and st.frames is not None:
                self.main.query_one(TabbedContent).show_tab("tab-frames")
                self.main.query_one("#frames", TextLine).set(frames_text(st.frames))
            if "performance" in dirty and st.performance is not None:
                self.main.query_one("#performance", TextLine).set(performance_text(st.performance))
            if "alerts" in dirty:
                self.main.query_one(AlertTable).show(st.alerts)
                self.main.query_one(TabbedContent).get_tab("tab-alerts").label = f"Alerts ({len(st.alerts)})"
            if "log" in dirty or "alerts" in dirty:
                self.main.query_one(AlertLogTable).show(list(st.alert_log), st.alert_log_total, self.clock_format)
            if "batches" in dirty:
                self.main.query_one(BatchTable).show(list(st.batches))
            if isinstance(self.screen, AlertDetailScreen) and dirty & {"alerts", "log", "batches", "features",
                                                                       "performance", "frames"}:
                self.screen.redraw()

    def _draw_status(self) -> None:
        now = self.clock()
        self._age_second = int(now)
        self.main.query_one(StatusBar).set(status_fields(self.state, self._paused, now, self.clock_format))

    def _visible_features(self) -> list[str]:
        needle = self.filter_text.lower()
        names = [n for n in self.view.features if needle in n.lower()] if needle else list(self.view.features)
        return sorted(names, key=lambda n: feature_sort_key(self.sort_mode, self.view.features[n], n))

    def _draw_features(self) -> None:
        table = self.main.query_one(FeatureTable)
        empty = not self.view.features
        self._draw_empty(empty)
        if empty:
            return
        order = self._visible_features()
        # Rows on screen are redrawn from the newest result at once; rows off screen catch up a slice per
        # redraw, so a 1,000-feature table costs about one screenful of cells per redraw, not 1,000 rows.
        top = max(0, int(table.scroll_y))
        on_screen = order[top:top + table.size.height + 2]
        stale = [n for n in order if self._cells.get(n, (None,))[0] is not self.view.features[n]]
        wanted = set(on_screen) | set(stale[:OFFSCREEN_ROWS_PER_REDRAW])
        rows = {}
        for n in order:
            f = self.view.features[n]
            cached = self._cells.get(n)
            if cached is None or (cached[0] is not f and n in wanted):
                cached = self._cells[n] = (f, feature_cells(n, f, list(self.view.feature_trends.get(n, []))))
            rows[n] = cached[1]
        table.sync(rows, order)
        if len(stale) > len(wanted):
            self._dirty.add("features")  # more rows to catch up on the next redraw
        drifted = sum(1 for f in self.view.features.values() if f.drifted)
        fields = [(1, Text(f" features: {drifted} of {len(self.view.features)} drifted"), "")]
        if self.filter_text:  # always shown: it says why rows are missing
            fields.append((0, Text(f"filter: {clean(self.filter_text)}", style="bold"), " · "))
        fields.append((2, Text(f"sort: {self.sort_mode}"), " · "))
        self.main.query_one("#features-title", FieldsLine).set(fields)

    def _draw_empty(self, empty: bool) -> None:
        """With no table batch yet: what the dashboard waits for, instead of an empty table."""
        box = self.main.query_one("#empty", Static)
        for widget in (self.main.query_one(FeatureTable), self.main.query_one("#features-title")):
            if widget.display == empty:
                widget.display = not empty
        box.set_class(empty, "shown")
        features = self.main.query_one(FeatureTable)
        if features.can_focus == empty:  # an empty table takes no focus: the footer offers no feature keys
            features.can_focus = not empty
            if empty and self.focused in (features, None):
                self._features_want_focus = True
                self.main.query_one(TabbedContent).query_one(Tabs).focus()
            elif not empty and self._features_want_focus:
                features.focus()  # the first table batch: where the dashboard starts
            self._features_want_focus = empty and self._features_want_focus
        if not empty:
            return
        where = f" in {clean(self.state.directory)}" if self.state.directory else ""
        text = Text(f"waiting for batches{where} ({FORMATS}); producers write then rename")
        if self.view.frames is not None:
            text = Text("no table batch yet: frame batches show in the Frames tab and the embeddings trend")
        if self.view.ignored:
            text.append(f"\n{self.view.ignored} entr{'y' if self.view.ignored == 1 else 'ies'} ignored (not read: "
                        "see the Batches tab)", style="yellow")
        box.update(text)

    # actions -------------------------------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        if self.viewer:
            self.notify("this dashboard is a viewer: the process that analyses the batches is not paused by it")
            return
        self._paused = not self._paused
        if self.engine is not None:
            (self.engine.pause if self._paused else self.engine.resume)()
        self.notify("ingestion paused: new batches wait in the directory" if self._paused else "ingestion resumed")
        self._dirty.add("status")
        self.refresh_widgets()

    def action_acknowledge(self) -> None:
        self._acknowledge_here(True)

    def action_unacknowledge(self) -> None:
        self._acknowledge_here(False)

    def _acknowledge_here(self, acknowledge: bool) -> None:
        """``a``/``u`` (or the palette) where no alert binds them: the alert in the detail shown, or the alert
        under the Alerts table's cursor while that table has focus; elsewhere, say where they act."""
        if isinstance(self.screen, AlertDetailScreen):
            self.set_acknowledged(self.screen.alert_id, acknowledge)
            return
        table = self.main.query_one(AlertTable)
        if self.focused is table:
            self.set_acknowledged(table.alert_at_cursor(), acknowledge)
            return
        key = "a" if acknowledge else "u"
        self.notify(f"'{key}' acts on the alert under the cursor in the Alerts tab: select the tab, move to its "
                    "table with Tab, then press it (or press Enter on an alert and use it there)", markup=False)

    @on(AckRequest)
    def _ack_requested(self, message: AckRequest) -> None:
        message.stop()
        self.set_acknowledged(message.alert_id, message.acknowledge)

    def set_acknowledged(self, alert_id: int | None, acknowledge: bool) -> None:
        """Acknowledge an open alert or withdraw its acknowledgement, with a notice saying what happened."""
        a = self.view.alert(alert_id) if alert_id is not None else None
        if a is None:
            self.notify("no alert selected", severity="warning")
            return
        name = clean(f"#{a.id} ({a.kind} {a.subject})")
        if not a.is_open:
            self.notify(f"alert {name} is resolved: there is nothing to acknowledge", markup=False)
            return
        if acknowledge == (a.status == "acknowledged"):
            self.notify(f"alert {name} is already acknowledged (u withdraws it)" if acknowledge
                        else f"alert {name} is not acknowledged", markup=False)
            return
        if self.engine is not None:
            (self.engine.acknowledge if acknowledge else self.engine.unacknowledge)(a.id)  # publishes to the view
        else:
            now = self.clock()
            after = replace(a, status="acknowledged", acknowledged_at=now) if acknowledge else \
                replace(a, status="open", acknowledged_at=None)
            self.view.apply(AlertEvent("acknowledged" if acknowledge else "unacknowledged", after, at=now))
        after = self.view.alert(a.id)
        if after is not None and not after.is_open:
            self.notify(f"acknowledged alert {name}: closed (an alert about a file that could not be read is "
                        "closed by its acknowledgement)", markup=False)
        elif acknowledge:
            self.notify(f"acknowledged alert {name}: it stays open, and counts for the traffic light until it "
                        "resolves", markup=False)
        else:
            self.notify(f"alert {name} is no longer acknowledged", markup=False)
        self.refresh_widgets()

    def action_filter(self) -> None:
        box = self.main.query_one("#filter", Input)
        box.add_class("shown")
        box.can_focus = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._dirty.add("filter")
        self.refresh_widgets()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self._close_filter()

    def _close_filter(self) -> None:
        box = self.main.query_one("#filter", Input)
        box.remove_class("shown")
        box.can_focus = False
        self.main.query_one(FeatureTable).focus()

    def key_escape(self) -> None:
        if self.main.query_one("#filter", Input).has_class("shown"):
            self._close_filter()

    def action_cycle_sort(self) -> None:
        self.sort_mode = SORT_MODES[(SORT_MODES.index(self.sort_mode) + 1) % len(SORT_MODES)]
        self._dirty.add("features")
        self.refresh_widgets()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(KEYS, NOTES))

    def action_light_theme(self) -> None:
        self.theme = "textual-light"

    def action_dark_theme(self) -> None:
        self.theme = "textual-dark"

    @on(DataTable.RowSelected, "#features")
    def _open_feature(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        feature = self.view.features.get(name)
        if feature is None:
            return
        findings = [f for f in self.view.findings if f.get("column") == name]
        self.push_screen(FeatureDetailScreen(name, feature.to_dict(), list(self.view.feature_trends.get(name, [])),
                                             findings))

    @on(DataTable.RowSelected, "#alerts")
    def _open_alert(self, event: DataTable.RowSelected) -> None:
        self.push_screen(AlertDetailScreen(int(event.row_key.value), self.view, self.clock_format))

    @on(DataTable.RowSelected, "#log")
    def _open_logged_alert(self, event: DataTable.RowSelected) -> None:
        alert_id = self.main.query_one(AlertLogTable).alert_ids.get(event.row_key.value)
        if alert_id is not None:
            self.push_screen(AlertDetailScreen(alert_id, self.view, self.clock_format))

    async def action_quit(self) -> None:
        self._stop.set()
        for worker in self.workers:
            if worker.name == "engine":
                with contextlib.suppress(Exception):  # quitting must not fail
                    await asyncio.wait_for(worker.wait(), timeout=10)
        self.exit()
