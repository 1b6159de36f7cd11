"""The Textual dashboard: drawn on a timer from the engine's ``MonitorView``.

The engine runs as an async worker of the app, on the app's own loop, and keeps the view current; a 4 Hz timer
redraws the sections whose revision changed since the last redraw, inside ``batch_update``. So a burst of
results is one repaint. A viewer's view follows the store instead (another process's engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from functools import partial

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, RichLog, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from sentinel_tui.engine.view import SECTIONS, MonitorView
from sentinel_tui.model import AlertEvent, BatchEvent, LabelsEvent
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.screens import FeatureDetailScreen, HelpScreen, frames_text, performance_text
from sentinel_tui.tui.state import DashboardState
from sentinel_tui.tui.widgets import (
    SEVERITY_STYLE,
    FeatureTable,
    StatusBar,
    TextLine,
    TrendPanel,
    feature_cells,
    feature_sort_key,
    status_text,
)

SORT_MODES = ("severity", "effect", "p-value", "name")
OFFSCREEN_ROWS_PER_REDRAW = 150
REFRESH_SECONDS = 0.25
VIEWER_POLL_SECONDS = 1.0  # a viewer re-reads the store this often (one indexed query when nothing changed)
KEYS = [("q", "quit (stops the watcher; the history stays in the store)"), ("p", "pause / resume ingestion"),
        ("a", "acknowledge the selected alert (Alerts tab)"), ("/", "filter features by name (Escape closes)"),
        ("s", "cycle the feature sort: severity, effect size, p-value, name"),
        ("Enter", "feature detail: baseline vs latest distribution, statistics, history, findings"),
        ("Escape", "back from a detail or help screen"), ("?", "this help"),
        ("Tab / Shift+Tab", "move between panels"), ("Ctrl+P", "command palette: every action, plus themes"),
        ("mouse", "click rows and tabs, scroll panels")]


class SentinelCommands(Provider):
    """The same actions as the keys, in the command palette."""

    def _commands(self) -> list[tuple[str, str, str]]:
        return [("Pause or resume ingestion", "toggle_pause", "p"), ("Acknowledge the selected alert",
                "acknowledge", "a"), ("Filter features by name", "filter", "/"),
                ("Cycle the feature sort order", "cycle_sort", "s"), ("Show keys and help", "help", "?"),
                ("Light theme", "light_theme", ""), ("Dark theme", "dark_theme", ""), ("Quit", "quit", "q")]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, key in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action),
                          help=f"key: {key}" if key else None)


class MainScreen(Screen):
    DEFAULT_CSS = """
    #body { height: 1fr; }
    #left { width: 2fr; }
    #right { width: 1fr; min-width: 28; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    FeatureTable { height: 1fr; }
    #trends { height: auto; border: round $panel-lighten-2; border-title-color: $text-muted; }
    #features-title { height: 1; color: $text-muted; }
    #performance, #frames { height: auto; }
    #bottom { height: 35%; min-height: 8; }
    #bottom DataTable, #bottom RichLog { height: 1fr; }
    """


class SentinelApp(App):
    TITLE = "Sentinel"
    COMMANDS = App.COMMANDS | {SentinelCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("a", "acknowledge", "Ack alert"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, engine=None, *, directory: str = "", baseline: str = "", follow: bool = True,
                 viewer: bool = False, theme: str = "textual-dark", clock_format: str = "%H:%M:%S"):
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
        self._initial_theme = theme
        self._stop = asyncio.Event()
        self._paused = False
        self._log_drawn = 0  # alert-log events already written to the RichLog
        self._next_redraw = 0.0
        self._cells: dict[str, tuple[dict, tuple]] = {}  # feature -> (the result it was drawn from, cells)

    # composition ---------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Input(placeholder="filter features by name (Escape closes)", id="filter")
                yield TextLine("", id="features-title")
                yield FeatureTable(id="features")
            with Vertical(id="right"), Vertical(id="trends"):
                yield TrendPanel("drift share", "%", id="trend-drift")
                yield TrendPanel("rows/s", "", id="trend-rows")
                yield TrendPanel("latency", " ms", id="trend-latency")
                yield TrendPanel("accuracy", "%", id="trend-perf")
                yield TrendPanel("F1", "%", id="trend-f1")
                yield TrendPanel("embeddings", "%", id="trend-embedding")
        with TabbedContent(id="bottom", initial="tab-alerts"):
            with TabPane("Alerts", id="tab-alerts"):
                yield DataTable(id="alerts", cursor_type="row")
            with TabPane("Alert log", id="tab-log"):
                yield RichLog(id="log", max_lines=500, markup=False, wrap=False, auto_scroll=True)
            with TabPane("Batches", id="tab-batches"):
                yield DataTable(id="batches", cursor_type="row")
            with TabPane("Performance", id="tab-performance"):
                yield VerticalScroll(TextLine("no labels yet", id="performance"))
            with TabPane("Frames", id="tab-frames"):
                yield VerticalScroll(TextLine("no frame batches yet", id="frames"))
        yield Footer()

    def get_default_screen(self) -> Screen:
        return MainScreen()

    def on_mount(self) -> None:
        self.theme = self._initial_theme
        self.query_one("#trends").border_title = "trends"
        alerts = self.query_one("#alerts", DataTable)
        for label, width in (("id", 4), ("severity", 8), ("kind", 12), ("subject", 16), ("count", 5),
                             ("message", 60)):
            alerts.add_column(label, key=label, width=width)
        batches = self.query_one("#batches", DataTable)
        for label, width in (("file", 28), ("rows", 8), ("status", 8), ("latency", 9)):
            batches.add_column(label, key=label, width=width)
        # The Frames tab appears with the first frame batch: tabular-only users never see an empty tab.
        self.query_one(TabbedContent).hide_tab("tab-frames")
        self.refresh_widgets()
        self.set_interval(REFRESH_SECONDS, self._tick)
        if self.follow:
            self.run_worker(self.engine.run(self._stop), name="engine", exit_on_error=False)
        if self.viewer:
            self.set_interval(VIEWER_POLL_SECONDS, self.engine.follow_store)
        self.query_one(FeatureTable).focus()

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
        # Adaptive: after a redraw that took d seconds, wait at least 3d before the next one, so the loop
        # stays mostly free for keys however large the table is.
        if time.monotonic() >= self._next_redraw:
            started = time.monotonic()
            self.refresh_widgets()
            self._next_redraw = started + 3 * (time.monotonic() - started)

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
                self.query_one(StatusBar).set(status_text(self.state, self._paused, self.clock_format))
            if "features" in dirty or "trends" in dirty or "filter" in dirty:
                self._draw_features()
            if "trends" in dirty:
                self.query_one("#trend-drift", TrendPanel).show(list(st.drift_share))
                self.query_one("#trend-rows", TrendPanel).show(list(st.rows_per_second))
                self.query_one("#trend-latency", TrendPanel).show(list(st.latency_ms))
                perf_panel = self.query_one("#trend-perf", TrendPanel)
                if st.performance is not None and st.performance.task == "regression" and perf_panel.unit:
                    perf_panel.unit = ""
                    perf_panel.query_one(Label).update("MAE")
                perf_panel.show(list(st.perf_trend))
                self.query_one("#trend-f1", TrendPanel).show(list(st.f1_trend))
                self.query_one("#trend-embedding", TrendPanel).show(list(st.embedding_trend))
            if "frames" in dirty and st.frames is not None:
                self.query_one(TabbedContent).show_tab("tab-frames")
                self.query_one("#frames", TextLine).set(frames_text(st.frames))
            if "performance" in dirty and st.performance is not None:
                self.query_one("#performance", TextLine).set(performance_text(st.performance))
            if "alerts" in dirty:
                self._draw_alerts()
            if "log" in dirty or "alerts" in dirty:
                self._draw_log()
            if "batches" in dirty:
                self._draw_batches()

    def _visible_features(self) -> list[str]:
        needle = self.filter_text.lower()
        names = [n for n in self.view.features if needle in n.lower()] if needle else list(self.view.features)
        return sorted(names, key=lambda n: feature_sort_key(self.sort_mode, self.view.features[n], n))

    def _draw_features(self) -> None:
        table = self.query_one(FeatureTable)
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
        title = f"features: {drifted} of {len(self.view.features)} drifted · sort: {self.sort_mode}"
        if self.filter_text:
            title += f" · filter: {clean(self.filter_text)}"
        self.query_one("#features-title", TextLine).set(Text(" " + title, no_wrap=True, overflow="ellipsis"))

    def _draw_alerts(self) -> None:
        table = self.query_one("#alerts", DataTable)
        wanted = self.view.alerts
        for key in [k for k in table.rows if int(k.value) not in wanted]:
            table.remove_row(key)
        for alert_id, a in sorted(wanted.items()):
            sev = Text(a.severity + (" ack" if a.status == "acknowledged" else ""),
                       style=SEVERITY_STYLE.get(a.severity, ""))
            cells = (str(a.id), sev, a.kind, Text(clean(a.subject)), str(a.count), Text(clean(a.message)))
            key = str(alert_id)
            if key in table.rows:
                for (label, value) in zip(("id", "severity", "kind", "subject", "count", "message"), cells,
                                          strict=True):
                    table.update_cell(key, label, value)
            else:
                table.add_row(*cells, key=key)
        tab = self.query_one(TabbedContent).get_tab("tab-alerts")
        tab.label = f"Alerts ({len(wanted)})"

    def _draw_log(self) -> None:
        log = self.query_one("#log", RichLog)
        new = min(self.view.alert_log_total - self._log_drawn, len(self.view.alert_log))
        self._log_drawn = self.view.alert_log_total
        for event in list(self.view.alert_log)[len(self.view.alert_log) - new:]:
            a = event.alert
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(datetime.fromtimestamp(a.updated_at).strftime(self.clock_format) + " ")
            line.append(f"{a.severity:<8} ", style=SEVERITY_STYLE.get(a.severity, ""))
            line.append(f"{event.change:<12} {a.kind:<12} ")
            line.append(clean(a.subject) + ": ", style="bold")
            line.append(clean(a.message))
            log.write(line)

    def _draw_batches(self) -> None:
        table = self.query_one("#batches", DataTable)
        wanted = {str(b.batch_id): b for b in self.view.batches}
        for key in [k for k in table.rows if k.value not in wanted]:
            table.remove_row(key)
        for key, b in wanted.items():
            if key in table.rows:
                continue
            latency = f"{b.latency * 1000:.0f} ms" if b.latency is not None else "-"
            name = b.file.rsplit("/", 1)[-1]
            table.add_row(Text(clean(name), no_wrap=True, overflow="ellipsis"), str(b.rows),
                          Text(b.status, style=SEVERITY_STYLE.get(b.status, "green")), latency, key=key)
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)

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
        table = self.query_one("#alerts", DataTable)
        if not table.row_count:
            self.notify("no open alert to acknowledge", severity="warning")
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        alert = self.view.alerts.get(int(key))
        if alert is None or alert.status == "acknowledged":
            return
        if self.engine is not None:
            self.engine.acknowledge(alert.id)  # publishes an AlertEvent back to us
        else:
            alert.status = "acknowledged"
            self.view.apply(AlertEvent("acknowledged", alert))
        self.refresh_widgets()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
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
        self.query_one("#filter", Input).remove_class("shown")
        self.query_one(FeatureTable).focus()

    def key_escape(self) -> None:
        if self.query_one("#filter", Input).has_class("shown"):
            self._close_filter()

    def action_cycle_sort(self) -> None:
        self.sort_mode = SORT_MODES[(SORT_MODES.index(self.sort_mode) + 1) % len(SORT_MODES)]
        self._dirty.add("features")
        self.refresh_widgets()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(KEYS))

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

    async def action_quit(self) -> None:
        self._stop.set()
        for worker in self.workers:
            if worker.name == "engine":
                with contextlib.suppress(Exception):  # quitting must not fail
                    await asyncio.wait_for(worker.wait(), timeout=10)
        self.exit()

