"""The feature detail screen and the help screen."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from sentinel_tui.report.text import fmt_num, fmt_p
from sentinel_tui.textsafe import clean
from sentinel_tui.tui.state import trend_blocks
from sentinel_tui.tui.widgets import SEVERITY_STYLE

BAR_WIDTH = 24


def _bar(share: float, top: float) -> str:
    cells = share / top * BAR_WIDTH if top > 0 else 0.0
    full = int(cells)
    rest = "▏▎▍▌▋▊▉"[int((cells - full) * 7) - 1] if cells - full >= 1 / 7 else ""
    return "█" * full + rest


def distribution_table(dist: dict[str, list]) -> Table:
    """Baseline and latest batch shares side by side, one row per bin or category."""
    t = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    t.add_column("bin", overflow="ellipsis", max_width=22, no_wrap=True)
    t.add_column("baseline", no_wrap=True)
    t.add_column("latest batch", no_wrap=True)
    labels, ref, cur = dist.get("labels", []), dist.get("reference", []), dist.get("batch", [])
    top = max([*ref, *cur, 1e-12])
    for label, r, c in zip(labels, ref, cur, strict=False):
        t.add_row(Text(clean(label)), Text(f"{_bar(r, top):<{BAR_WIDTH}} {r * 100:5.1f}%", style="cyan"),
                  Text(f"{_bar(c, top):<{BAR_WIDTH}} {c * 100:5.1f}%", style="magenta"))
    return t


def stats_table(name: str, f: dict[str, Any]) -> Table:
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    state = (f.get("severity") or "").upper() if f.get("drifted") else "no drift"
    rows = [("feature", clean(name)), ("type", f.get("type", "")), ("test", f.get("test", "")),
            ("statistic", fmt_num(f.get("statistic"))),
            ("p-value", f"{fmt_p(f.get('p_value'))} (threshold {fmt_p(f.get('p_threshold'))})"),
            ("effect size", f"{fmt_num(f.get('effect_size'))} {f.get('effect_size_name', '')} "
                            f"(threshold {fmt_num(f.get('effect_threshold'))})"),
            ("rows tested", str(f.get("rows", ""))), ("verdict", state)]
    rows += [(k.replace("_", " "), fmt_num(v)) for k, v in (f.get("details") or {}).items()]
    for k, v in rows:
        t.add_row(k, Text(str(v), style=SEVERITY_STYLE.get(f.get("severity") or "", "") if k == "verdict" else ""))
    return t


class FeatureDetailScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("q", "app.pop_screen", "Back", show=False)]
    DEFAULT_CSS = """
    FeatureDetailScreen { layout: vertical; }
    FeatureDetailScreen .title { background: $panel; text-style: bold; height: 1; }
    FeatureDetailScreen Static { margin: 0 1; }
    """

    def __init__(self, name: str, feature: dict[str, Any], history: list[float], findings: list[dict[str, Any]]):
        super().__init__()
        self.feature_name, self.feature, self.history, self.findings = name, feature, history, findings

    def compose(self) -> ComposeResult:
        yield Static(Text(f" {clean(self.feature_name)}: baseline vs latest batch", no_wrap=True,
                          overflow="ellipsis"), classes="title")
        with VerticalScroll():
            dist = self.feature.get("distribution") or {}
            if dist.get("labels"):
                yield Static(distribution_table(dist), id="distribution")
            else:
                yield Static("no distribution for this feature type", id="distribution")
            yield Static(stats_table(self.feature_name, self.feature), id="stats")
            threshold = self.feature.get("effect_threshold") or 0.0
            last = self.history[-1] if self.history else None
            yield Static(Text(f"drift history ({len(self.history)} batches, effect size; threshold "
                              f"{fmt_num(threshold)}, latest {fmt_num(last)})", style="bold"))
            # Blocks on a fixed scale (0 to 3x the threshold) so a quiet feature looks quiet.
            yield Static(Text(trend_blocks(self.history, threshold, width=len(self.history)) or "no history",
                              style="cyan"), id="history")
            lines = Text()
            if self.findings:
                for f in self.findings:
                    lines.append(f"{f['severity']:<9}", style=SEVERITY_STYLE.get(f["severity"], ""))
                    lines.append(clean(f["message"]) + "\n")
            else:
                lines.append("no validation findings for this feature in the latest batch", style="dim")
            yield Static(Text("validation findings", style="bold"))
            yield Static(lines, id="findings")
        yield Footer()


class HelpScreen(Screen):
    """A full screen rather than a modal: blending a modal over the dashboard costs ~0.3 s per open on a
    small machine (measured), for no information."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Close"), Binding("question_mark", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > VerticalScroll { width: 84; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $primary; background: $surface; padding: 0 1; }
    """

    def __init__(self, keys: list[tuple[str, str]], notes: list[tuple[str, str]] | None = None):
        super().__init__()
        self.keys, self.notes = keys, notes or []

    def compose(self) -> ComposeResult:
        t = Table(box=None, show_header=False)
        t.add_column(style="bold cyan", no_wrap=True)
        t.add_column()
        for key, what in self.keys:
            t.add_row(key, what)
        with VerticalScroll():
            yield Static(Text("Keys", style="bold"))
            yield Static(t)
            for title, text in self.notes:
                yield Static(Text.assemble(("\n" + title, "bold"), "\n", text))
            yield Static(Text("\nEscape or ? closes this help.", style="dim"))


def performance_text(p) -> Text:
    """The Performance tab: the window's verdict, its metrics against the reference, the confusion matrix and
    the segments where errors rose most."""
    out = Text()
    style = SEVERITY_STYLE.get(p.severity.label if p.severity is not None else "", "green" if p.status == "ok" else "")
    out.append(f"{p.status.replace('_', ' ')}", style=style)
    out.append(f"  {clean(p.message)}\n")
    m, ref = p.metrics or {}, p.reference or {}
    keys = ("mae", "rmse", "mape", "r2") if p.task == "regression" else (
        "accuracy", "precision", "recall", "f1", "macro_f1", "roc_auc", "log_loss")
    for k in keys:
        if m.get(k) is not None:
            flag = "  degraded" if p.degraded.get(k) else ""
            out.append(f"{k:<10} {fmt_num(m.get(k))}  (reference {fmt_num(ref.get(k))}){flag}\n",
                       style="bold red" if flag else "")
    if m.get("confusion"):
        labels = [clean(x) for x in m["labels"]]
        width = max(6, *(len(x) for x in labels))
        out.append("\nconfusion (rows: truth, columns: prediction)\n", style="bold")
        out.append(" " * (width + 1) + " ".join(f"{x:>{width}}" for x in labels) + "\n")
        for lab, row in zip(labels, m["confusion"], strict=False):
            out.append(f"{lab:>{width}} " + " ".join(f"{v:>{width}}" for v in row) + "\n")
    if p.change_point:
        out.append(f"\nchange began near batch {p.change_point['batch_id']}, row {p.change_point['row']}\n")
    if p.segments:
        out.append("\nsegments where errors rose most\n", style="bold")
        for seg in p.segments:
            out.append(f"{clean(seg['segment'])}: n={seg['rows']}, {seg['metric']} {seg['value']:.3f}, "
                       f"lift {seg['lift']:.2f}\n")
    return out


def frames_text(e: dict) -> Text:
    """The Frames tab: the latest frame batch's embedding verdict, the numbers beside it, and its image
    statistics against the reference."""
    out = Text()
    failed = e.get("verdict") == "FAIL"
    out.append(f"{e.get('verdict')}", style=SEVERITY_STYLE.get(e.get("severity") or "", "bold red") if failed
               else "green")
    out.append(f"  embedding drift {e['score'] * 100:.0f}% ({e['drifted_components']}/{e['components']} components, "
               f"fail at {e['score_threshold'] * 100:.0f}%)  {clean(e.get('file', '')).rsplit('/', 1)[-1]}\n")
    if e.get("explanation"):
        out.append(clean(e["explanation"]) + "\n", style="bold")
    mmd = e.get("mmd") or {}
    out.append(f"MMD² {fmt_num(mmd.get('mmd2'))} p={fmt_num(mmd.get('p_value'))} ({mmd.get('permutations')} "
               f"permutations) · mean distance {fmt_num(e.get('distance'))} (healthy p99 "
               f"{fmt_num(e.get('distance_null_p99'))}) · {e.get('frames')} frames\n\n")
    out.append(f"{'image statistic':<16}{'reference':>11}{'batch':>11}{'change':>9}  status\n", style="bold")
    for name, st in (e.get("image_stats") or {}).items():
        details = st.get("details") or {}
        change = st.get("change")
        sev = st.get("severity") if st.get("drifted") else None
        out.append(f"{name:<16}{fmt_num(details.get('reference_mean')):>11}{fmt_num(details.get('batch_mean')):>11}"
                   f"{'-' if change is None else f'{change * 100:+.0f}%':>9}  ")
        out.append((sev or "ok").upper() if sev else "ok", style=SEVERITY_STYLE.get(sev or "", ""))
        out.append("\n")
    model = e.get("model") or {}
    out.append(f"\n{model.get('name')} {model.get('input_size')}px · weights {clean(model.get('weights'))}\n",
               style="dim")
    return out
