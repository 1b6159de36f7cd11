"""The dashboard's keys, help notes and command palette entries (one list, so the help, the palette and the
README say the same)."""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider

KEYS = [("q", "quit (stops the watcher; the history stays in the store)"), ("p", "pause / resume ingestion"),
        ("/", "filter features by name (Enter or Escape closes; the filter stays until cleared)"),
        ("s", "cycle the feature sort: severity, effect size, p-value, name"),
        ("Enter", "the detail of the row under the cursor: a feature (distributions, statistics, history) or an "
                  "alert, in the Alerts tab or the Alert log (whole message, evidence, batches, state history)"),
        ("a", "acknowledge the alert under the cursor: in the Alerts tab while its table has focus, or in the "
              "alert's detail"), ("u", "withdraw an acknowledgement (in the same places)"),
        ("Escape", "back from a detail or help screen"), ("?", "this help"),
        ("Tab / Shift+Tab", "move between panels: features, the tabs, the table of the tab shown"),
        ("Ctrl+P", "command palette: every action, plus themes"), ("mouse", "click rows and tabs, scroll panels")]
NOTES = [
    ("Acknowledged alerts", "stay open, dimmed and marked 'ack', and still count for the traffic light "
     "(acknowledging says someone is on it, not that it is fixed); the status bar counts them: '4 alerts (1 "
     "acknowledged)'. An alert about a file that could not be read is closed by its acknowledgement."),
    ("Trends", "drift share, accuracy, F1 and the embedding drift score are drawn on a fixed 0-100% scale, one "
     "block per batch, the newest on the right; beside the value, its reference: 'ref' the baseline's value, "
     "'alarm' the drift share that is dataset drift, 'fail' the embedding drift score that fails a frame batch. "
     "MAE is drawn from 0 to twice its reference. Only rows/s and latency are scaled between their own lowest "
     "and highest value shown, which are given beside them when there is room."),
    ("Small terminals", "the status bar, the feature table and the alert tables drop their least important "
     "fields and columns first; the detail screens (Enter) show everything."),
]


class SentinelCommands(Provider):
    """The same actions as the keys, in the command palette."""

    def _commands(self) -> list[tuple[str, str, str]]:
        return [("Pause or resume ingestion", "toggle_pause", "p"), ("Acknowledge the selected alert",
                "acknowledge", "a"), ("Withdraw the selected alert's acknowledgement", "unacknowledge", "u"),
                ("Filter features by name", "filter", "/"), ("Cycle the feature sort order", "cycle_sort", "s"),
                ("Show keys and help", "help", "?"), ("Light theme", "light_theme", ""),
                ("Dark theme", "dark_theme", ""), ("Quit", "quit", "q")]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, key in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action),
                          help=f"key: {key}" if key else None)
