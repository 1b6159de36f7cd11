"""The dashboard's main screen: status bar; features beside the trends; the tabs of alerts, the alert log,
batches, performance and frames; the footer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from sentinel_tui.tui.alert_tables import AlertLogTable, AlertTable, BatchTable
from sentinel_tui.tui.widgets import FeatureTable, FieldsLine, StatusBar, TextLine, TrendPanel

FEATURES_HEIGHT = 0.45
NARROW = 100  # below this width the trends lose their box (two columns more for the blocks and references)
FORMATS = "CSV, compressed CSV, frame directories, .npy/.npz"
TRENDS = (("drift", "drift share"), ("rows", "rows/s"), ("latency", "latency"), ("perf", "accuracy"), ("f1", "F1"),
          ("embedding", "embeddings"))


class MainScreen(Screen):
    # Panels take the height their content needs (the feature table up to FEATURES_HEIGHT of the screen, set in
    # cells on every resize: a relative max-height is not applied inside a container sized by its content), and
    # the tabs below take the rest: no half-empty panel above a cramped one.
    DEFAULT_CSS = """
    #body { height: auto; }
    #left { width: 2fr; height: auto; }
    #right { width: 1fr; min-width: 32; max-width: 64; height: auto; display: none; }
    #right.shown { display: block; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    #features-title { height: 1; color: $text-muted; }
    FeatureTable { height: auto; }
    #empty { height: auto; padding: 1 1; color: $text-muted; display: none; }
    #empty.shown { display: block; }
    #trends { height: auto; border: round $panel-lighten-2; border-title-color: $text-muted; }
    MainScreen.narrow #trends { border: none; border-left: vkey $panel-lighten-2; }
    #performance, #frames { height: auto; }
    #bottom { height: 1fr; min-height: 8; }
    #bottom DataTable { height: 1fr; }
    """


def compose_main() -> ComposeResult:
    """The main screen's widgets (the app composes them into its default screen, a ``MainScreen``)."""
    yield StatusBar(id="status")
    with Horizontal(id="body"):
        with Vertical(id="left"):
            filter_box = Input(placeholder="filter features by name (Escape closes)", id="filter")
            filter_box.can_focus = False  # while hidden
            yield filter_box
            yield FieldsLine(id="features-title")
            yield Static("", id="empty")
            yield FeatureTable(id="features")
        with Vertical(id="right"), Vertical(id="trends"):
            for key, title in TRENDS:
                yield TrendPanel(title, id=f"trend-{key}")
    with TabbedContent(id="bottom", initial="tab-alerts"):
        with TabPane("Alerts", id="tab-alerts"):
            yield AlertTable(id="alerts")
        with TabPane("Alert log", id="tab-log"):
            yield AlertLogTable(id="log")
        with TabPane("Batches", id="tab-batches"):
            yield BatchTable(id="batches")
        with TabPane("Performance", id="tab-performance"):
            yield VerticalScroll(TextLine("no labels yet", id="performance"))
        with TabPane("Frames", id="tab-frames"):
            yield VerticalScroll(TextLine("no frame batches yet", id="frames"))
    yield Footer()
