"""Human reports: a Rich table on a terminal (plain ASCII when piped) and Markdown.

Every string that comes from data goes through ``textsafe``: Rich ``Text`` objects never parse markup,
and ``clean`` neutralises terminal escape sequences.
"""

from __future__ import annotations

import math
import os
from typing import IO, Any

from sentinel_tui.model import BatchResult, FeatureDrift, Severity, Status
from sentinel_tui.textsafe import clean, markdown_escape

STATUS_STYLE = {Status.OK: "bold green", Status.WARNING: "bold yellow", Status.CRITICAL: "bold red",
                Status.UNKNOWN: "bold magenta"}
SEVERITY_STYLE = {Severity.INFO: "dim", Severity.WARNING: "yellow", Severity.CRITICAL: "red"}
MAX_QUIET_FEATURES = 10  # features without drift listed per batch; drifted ones are always listed


def fmt_p(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}" if abs(x) >= 1e4 or (x != 0 and abs(x) < 1e-3) else f"{x:.{digits}f}"


def feature_state(f: FeatureDrift) -> str:
    return f.severity.label.upper() if f.drifted and f.severity is not None else "ok"


def embedding_line(r: BatchResult) -> str | None:
    """One line on a frame batch: the verdict, the numbers beside it and the explanation."""
    e = r.embedding
    if e is None:
        return None
    text = (f"embedding drift {e.verdict} {e.score * 100:.0f}% ({e.drifted_components}/{e.components} "
            f"components, fail at {e.score_threshold * 100:.0f}%), MMD p={fmt_p(e.mmd_p_value)}, mean distance "
            f"{fmt_num(e.distance)} (healthy p99 {fmt_num(e.distance_null_p99)})")
    return f"{text}; {e.explanation}" if e.explanation else text


def summary_line(r: BatchResult) -> str:
    if r.kind == "frames" and r.embedding is not None:
        problems = sum(1 for f in r.findings if f.severity >= Severity.WARNING)
        return f"{r.rows} frames, {embedding_line(r)}" + (f", {problems} findings" if problems else "")
    parts = [f"{r.rows} rows"]
    if r.drift is not None:
        d = r.drift
        parts.append(f"drift {d.drifted_count}/{d.tested_count} features ({d.share * 100:.0f}%)")
        if d.dataset_test is not None and d.dataset_test.fired:
            e = d.dataset_test
            parts.append(f"dataset shift {e.effect:.2f} std" if e.effect is not None else "dataset shift")
    problems = sum(1 for f in r.findings if f.severity >= Severity.WARNING)
    parts.append(f"{problems} validation finding{'s' if problems != 1 else ''}")
    if r.prediction_drift is not None and r.prediction_drift.drifted_count:
        parts.append("prediction drift in " + ", ".join(f.feature for f in r.prediction_drift.features.values()
                                                         if f.drifted))
    return ", ".join(parts)


def performance_line(r: BatchResult) -> str | None:
    """One line on model quality: the verdict and the numbers behind it."""
    p = r.performance
    if p is None:
        return None
    label = {"ok": "performance ok", "degraded": "PERFORMANCE DEGRADED", "insufficient_labels": "performance: "
             "insufficient labels", "no_labels": "performance: no labels in this batch"}[p.status]
    return f"  {label}: {p.message}" if p.message and p.status != "no_labels" else f"  {label}"


def _split_features(r: BatchResult, limit: int | None = MAX_QUIET_FEATURES) -> tuple[list[FeatureDrift], int]:
    """The features to list (the drifted ones, then up to ``limit`` others; None: all) and how many are not."""
    if r.drift is None:
        return [], 0
    feats = list(r.drift.features.values())
    drifted = [f for f in feats if f.drifted]
    quiet = [f for f in feats if not f.drifted]
    limit = len(quiet) if limit is None else limit
    return drifted + quiet[:limit], max(0, len(quiet) - limit)


PIPED_WIDTH = 1_000_000  # piped output is not wrapped: a line is as long as its content


class _TrimmedLines:
    """A text stream that drops the spaces at the end of each line (Rich pads table cells to the column width;
    piped output is for ``grep``, ``diff`` and logs, where trailing spaces are noise)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self._spaces = ""  # trailing spaces of an unfinished line: written only if more text follows on it

    def write(self, text: str) -> int:
        lines = (self._spaces + text).split("\n")
        last = lines.pop()
        body = last.rstrip(" ")
        self._spaces = last[len(body):]
        out = "".join(line.rstrip(" ") + "\n" for line in lines) + body
        if out:
            self.stream.write(out)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"


def make_console(file: IO[str] | None = None) -> Any:
    """A Rich console for reports. On a terminal: colour (unless ``NO_COLOR``) at the terminal's width. Anywhere
    else (a pipe, a file, cron's mail): plain text, no hard wrap, no trailing spaces. A reader that goes away
    (``| head -1``) raises ``BrokenPipeError`` to the caller, which knows the exit status (Rich would exit 1)."""
    import sys

    from rich.console import Console

    class ReportConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more to write: the reader is gone
            raise BrokenPipeError

    stream = file or sys.stdout
    if stream.isatty():
        return ReportConsole(file=file, no_color=bool(os.environ.get("NO_COLOR")), highlight=False, emoji=False,
                             soft_wrap=False)
    return ReportConsole(file=_TrimmedLines(stream), force_terminal=False, no_color=True, color_system=None,
                         highlight=False, emoji=False, soft_wrap=False, width=PIPED_WIDTH)


def brief_line(r: BatchResult) -> str:
    """The one line an OK batch gets: the summary, and model quality in a few words when there were labels."""
    text = summary_line(r)
    info = sum(1 for f in r.findings if f.severity == Severity.INFO)
    if info:
        text += f" ({info} info)"
    p = r.performance
    if p is not None and p.status == "insufficient_labels":
        text += ", performance: insufficient labels"
    elif p is not None and p.metrics is not None and p.status != "no_labels":
        key = "mae" if p.task == "regression" else "accuracy"
        value, ref = p.metrics.get(key), (p.reference or {}).get(key)
        if isinstance(value, (int, float)):
            text += f", {key} {value:.3f}" + (f" (reference {ref:.3f})" if isinstance(ref, (int, float)) else "")
    return text


def render_text(results: list[BatchResult], overall: Status, baseline_name: str, console: Any,
                verbose: bool = False) -> None:
    """One line per OK batch and the whole story (findings, performance, feature table) for the others;
    ``verbose``: the whole story for every batch, every feature listed."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    plain = not console.is_terminal
    tbox = box.ASCII if plain else box.SIMPLE_HEAD
    brief = False  # the line before is a one-line batch
    for r in results:
        head = Text()
        head.append(f"{r.status.label.upper():<9}", style=STATUS_STYLE[r.status])
        head.append(clean(r.file), style="bold")
        if r.status == Status.OK and not verbose:
            head.append(f"  {clean(brief_line(r))}")
            console.print(head)
            brief = True
            continue
        if brief:
            console.print()
            brief = False
        head.append(f"  {clean(summary_line(r))}")
        console.print(head)
        perf = performance_line(r)
        if perf:
            style = "bold red" if r.performance.status == "degraded" else "dim"
            console.print(Text(clean(perf), style=style))
        if r.findings:
            t = Table(box=tbox, show_edge=False, pad_edge=False, title=None, expand=False)
            for col in ("severity", "check", "column", "message"):
                t.add_column(col, overflow="fold")
            for f in sorted(r.findings, key=lambda f: -f.severity):
                t.add_row(Text(f.severity.label, style=SEVERITY_STYLE[f.severity]), Text(f.check),
                          Text(clean(f.column or "-")), Text(clean(f.message)))
            console.print(t)
        if r.embedding is not None:
            _image_stats_table(r, console, tbox)
        shown, hidden = _split_features(r, limit=None if verbose else MAX_QUIET_FEATURES)
        if shown:
            t = Table(box=tbox, show_edge=False, pad_edge=False, expand=False)
            for col, just in (("feature", "left"), ("type", "left"), ("test", "left"), ("statistic", "right"),
                              ("p-value", "right"), ("effect size", "right"), ("threshold", "right"),
                              ("status", "left")):
                t.add_column(col, justify=just, overflow="fold")
            for f in shown:
                style = SEVERITY_STYLE[f.severity] if f.drifted and f.severity is not None else ""
                t.add_row(Text(clean(f.feature), style=style), f.logical_type, f.test, fmt_num(f.statistic),
                          fmt_p(f.p_value), f"{fmt_num(f.effect_size)} {f.effect_size_name}",
                          fmt_num(f.effect_threshold), Text(feature_state(f), style=style))
            console.print(t)
            if hidden:
                console.print(Text(f"  ... and {hidden} more features without drift"), style="dim")
        if r.drift is not None and r.drift.skipped:
            names = ", ".join(clean(n) for n in list(r.drift.skipped)[:8])
            more = len(r.drift.skipped) - 8
            console.print(Text(f"  not drift-tested: {names}" + (f" (+{more} more)" if more > 0 else "")),
                          style="dim")
        console.print()
    counts = {s: sum(1 for r in results if r.status == s) for s in (Status.OK, Status.WARNING, Status.CRITICAL)}
    tail = Text()
    tail.append(f"{overall.label.upper()}", style=STATUS_STYLE[overall])
    tail.append(f"  {len(results)} batch{'es' if len(results) != 1 else ''} against baseline ")
    tail.append(clean(baseline_name), style="bold")
    tail.append(f": {counts[Status.OK]} ok, {counts[Status.WARNING]} warning, {counts[Status.CRITICAL]} critical")
    console.print(tail)


def _image_stats_table(r: BatchResult, console: Any, tbox: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    e = r.embedding
    t = Table(box=tbox, show_edge=False, pad_edge=False, expand=False)
    for col, just in (("image statistic", "left"), ("reference", "right"), ("batch", "right"),
                      ("change", "right"), ("p-value", "right"), ("effect size", "right"), ("status", "left")):
        t.add_column(col, justify=just)
    for name, f in e.image_stats.items():
        style = SEVERITY_STYLE[f.severity] if f.drifted and f.severity is not None else ""
        change = e.changes.get(name)
        t.add_row(Text(name, style=style), fmt_num(f.details.get("reference_mean")),
                  fmt_num(f.details.get("batch_mean")),
                  "-" if change is None or not math.isfinite(change) else f"{change * 100:+.0f}%",
                  fmt_p(f.p_value), fmt_num(f.effect_size), Text(feature_state(f), style=style))
    console.print(t)


def render_markdown(results: list[BatchResult], overall: Status, baseline_name: str) -> str:
    md = markdown_escape
    lines = [f"# Sentinel report: {overall.label.upper()}", "",
             f"Baseline `{clean(baseline_name).replace('`', '')}`, {len(results)} batches.", ""]
    for r in results:
        lines += [f"## {md(r.file)}: {r.status.label.upper()}", "", md(summary_line(r)), ""]
        perf = performance_line(r)
        if perf:
            lines += [md(perf.strip()), ""]
        if r.findings:
            lines += ["| severity | check | column | message |", "|---|---|---|---|"]
            for f in sorted(r.findings, key=lambda f: -f.severity):
                lines.append(f"| {f.severity.label} | {f.check} | {md(f.column or '-')} | {md(f.message)} |")
            lines.append("")
        if r.embedding is not None:
            e = r.embedding
            lines += ["| image statistic | reference | batch | change | p-value | effect size | status |",
                      "|---|---:|---:|---:|---:|---:|---|"]
            for name, f in e.image_stats.items():
                ch = e.changes.get(name)
                lines.append(f"| {name} | {fmt_num(f.details.get('reference_mean'))} | "
                             f"{fmt_num(f.details.get('batch_mean'))} | "
                             f"{'-' if ch is None or not math.isfinite(ch) else f'{ch * 100:+.0f}%'} | "
                             f"{fmt_p(f.p_value)} | {fmt_num(f.effect_size)} | {feature_state(f)} |")
            lines.append("")
        shown, hidden = _split_features(r)
        if shown:
            lines += ["| feature | type | test | statistic | p-value | effect size | threshold | status |",
                      "|---|---|---|---:|---:|---:|---:|---|"]
            for f in shown:
                lines.append(f"| {md(f.feature)} | {f.logical_type} | {f.test} | {fmt_num(f.statistic)} | "
                             f"{fmt_p(f.p_value)} | {fmt_num(f.effect_size)} {md(f.effect_size_name)} | "
                             f"{fmt_num(f.effect_threshold)} | {feature_state(f)} |")
            if hidden:
                lines.append(f"\n... and {hidden} more features without drift")
            lines.append("")
    return "\n".join(lines) + "\n"


def render_alerts(alerts: list, overall: Status, console: Any) -> None:
    """Open alerts (``events.Alert``) as a table, then the overall status line."""
    from datetime import UTC, datetime

    from rich import box
    from rich.table import Table
    from rich.text import Text

    if alerts:
        t = Table(box=box.ASCII if not console.is_terminal else box.SIMPLE_HEAD, show_edge=False,
                  title="open alerts", title_justify="left")
        for col in ("id", "severity", "kind", "subject", "since", "count", "message"):
            t.add_column(col, overflow="fold")
        for a in alerts:
            sev = Severity[a.severity.upper()]
            since = datetime.fromtimestamp(a.opened_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            status = " (ack)" if a.status == "acknowledged" else ""
            t.add_row(str(a.id), Text(a.severity + status, style=SEVERITY_STYLE[sev]), a.kind, Text(clean(a.subject)),
                      since, str(a.count), Text(clean(a.message)))
        console.print(t)
    tail = Text()
    tail.append(overall.label.upper(), style=STATUS_STYLE[overall])
    tail.append(f"  {len(alerts)} open alert{'s' if len(alerts) != 1 else ''}")
    console.print(tail)


def render_alerts_markdown(alerts: list) -> str:
    if not alerts:
        return "No open alerts.\n"
    lines = ["## Open alerts", "", "| id | severity | kind | subject | count | message |", "|---|---|---|---|---:|---|"]
    for a in alerts:
        lines.append(f"| {a.id} | {a.severity} | {a.kind} | {markdown_escape(a.subject)} | {a.count} | "
                     f"{markdown_escape(a.message)} |")
    return "\n".join(lines) + "\n"
