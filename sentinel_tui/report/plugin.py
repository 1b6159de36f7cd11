"""Monitoring-plugin output (``--format plugin``): Nagios, Icinga, Naemon, Sensu, and any wrapper that reads the
first line.

The format of the monitoring-plugins guidelines (https://www.monitoring-plugins.org/doc/guidelines.html)::

    SENTINEL CRITICAL - 4 open alerts: drift credit_score, income; performance accuracy | drift_share=0.22;;;0;1 ...
    CRITICAL drift credit_score: 'credit_score' drifted: ks p=4.4e-137 ...      <- long output, one line each

The first line is the service output, then `` | `` and the performance data: space-separated
``label=value[UOM];[warn];[crit];[min];[max]`` (trailing empty fields dropped). The exit status is the caller's
(0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), as for every other format.

Text from data (file names, column names, messages) is untrusted: ``clean`` makes control characters visible,
and ``|`` becomes ``¦`` everywhere, because a ``|`` in the output would start performance data. Labels made
from column names also lose quotes and ``=``, are bounded in length, and are quoted when they hold a space.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sentinel_tui.model import BatchResult, Severity, Status
from sentinel_tui.textsafe import clean

SERVICE = "SENTINEL"
MAX_LABEL = 48  # characters of a perfdata label made from a name in the data
MAX_SUBJECTS = 6  # subjects named per alert kind on the status line; the rest are counted
MAX_SUBJECT = 40  # characters of a subject on the status line (the long output has it whole)
MAX_FEATURES = 20  # per-feature perfdata entries (drifted first, then the largest effect sizes): keeps the status
# line near 1 kB, what older NRPE versions pass on


def text(value: object) -> str:
    """Untrusted text for the plugin output: one line, control characters visible, no ``|``."""
    return clean(value).replace("|", "\u00a6")


def label(name: object) -> str:
    """A perfdata label from any text: no quotes, ``=`` or ``|``, whitespace runs as one space, at most
    ``MAX_LABEL`` characters, single-quoted when it contains a space."""
    s = clean(name)
    for ch in "'\"=|":
        s = s.replace(ch, "_")
    s = " ".join(s.split())[:MAX_LABEL].strip() or "_"
    return f"'{s}'" if " " in s else s


def number(x: float | int | None) -> str:
    """A perfdata value: digits, sign and point only (no exponent); ``U`` when it could not be determined."""
    if x is None or isinstance(x, bool) or not math.isfinite(x):
        return "U"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


@dataclass(frozen=True)
class Perf:
    name: str  # a fixed name, or text from the data (sanitised by ``label``)
    value: float | int | None
    uom: str = ""  # "", "s", "%", "B", "c" (a counter)
    minimum: float | None = 0
    maximum: float | None = None

    def render(self, name: str) -> str:
        fields = ["", "", number(self.minimum) if self.minimum is not None else "",
                  number(self.maximum) if self.maximum is not None else ""]
        tail = ";".join(fields).rstrip(";")
        return f"{name}={number(self.value)}{self.uom if self.value is not None else ''}" + (
            f";{tail}" if tail else "")


def perfdata(items: Iterable[Perf]) -> str:
    """The entries, space-separated, each label distinct (a clash after sanitising gets ``~2``, ``~3``...)."""
    seen: set[str] = set()
    out = []
    for p in items:
        base = label(p.name)
        name, n = base, 1
        while name in seen:
            n += 1
            bare = base.strip("'")[:MAX_LABEL - 3]
            name = label(f"{bare}~{n}")
        seen.add(name)
        out.append(p.render(name))
    return " ".join(out)


def output(status: Status, summary: str, perf: Iterable[Perf], details: Iterable[str]) -> str:
    """The whole plugin output: the status line (with perfdata), then the long output, each line ending in \\n."""
    data = perfdata(perf)
    first = f"{SERVICE} {status.label.upper()} - {summary}" + (f" | {data}" if data else "")
    return "".join(line + "\n" for line in (first, *details))


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _cut(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[:limit - 1] + "\u2026"


def subjects_by_kind(items: Iterable[tuple[str, str, int]]) -> str:
    """``drift income, credit_score; performance accuracy`` from (kind, subject, severity) in the order given
    (worst first); at most ``MAX_SUBJECTS`` subjects per kind, the rest counted."""
    kinds: dict[str, list[str]] = {}
    for kind, subject, _ in sorted(items, key=lambda k: -k[2]):
        names = kinds.setdefault(kind, [])
        if subject not in names:
            names.append(subject)
    parts = []
    for kind, names in kinds.items():
        shown = ", ".join(_cut(text(n), MAX_SUBJECT) for n in names[:MAX_SUBJECTS])
        more = len(names) - MAX_SUBJECTS
        parts.append(f"{text(kind)} {shown}" + (f" (+{more} more)" if more > 0 else ""))
    return "; ".join(parts)


def _feature_perf(effects: dict[str, tuple[float, bool]]) -> list[Perf]:
    """Effect size per feature (drifted first, then the largest), at most ``MAX_FEATURES``."""
    ranked = sorted(effects.items(), key=lambda kv: (not kv[1][1], -(kv[1][0] if math.isfinite(kv[1][0]) else -1)))
    return [Perf(f"effect {name}", value if math.isfinite(value) else None) for name, (value, _) in
            ranked[:MAX_FEATURES]]


def _metric_key(task: str) -> str:
    return "mae" if task == "regression" else "accuracy"


def _batch_line(r: BatchResult) -> str:
    from sentinel_tui.report.text import brief_line

    return f"{r.status.label.upper():<8} {text(r.file)}: {text(brief_line(r))}"


def check_output(results: list[BatchResult], overall: Status) -> str:
    """``sentinel check --format plugin``: the batches' verdicts, the worst of each number across them."""
    counts = {s: sum(1 for r in results if r.status == s) for s in Status}
    problems = [(a.kind.value, a.subject, int(a.severity)) for r in results for a in r.alerts
                if a.severity >= Severity.WARNING]
    bad = ", ".join(f"{counts[s]} {s.label}" for s in (Status.CRITICAL, Status.WARNING, Status.UNKNOWN) if counts[s])
    summary = _count(len(results), "batch", "batches")
    summary += f" ({bad})" if bad else (" ok" if results else "")
    if problems:
        summary += ": " + subjects_by_kind(problems)

    perf = [Perf("batches", len(results)), Perf("warning_batches", counts[Status.WARNING]),
            Perf("critical_batches", counts[Status.CRITICAL])]
    drifts = [r.drift for r in results if r.drift is not None]
    if drifts:
        worst = max(drifts, key=lambda d: d.share)
        perf += [Perf("drift_share", worst.share, maximum=1),
                 Perf("drifted_features", worst.drifted_count, maximum=worst.tested_count)]
    scored = [r.performance for r in results if r.performance is not None and r.performance.metrics is not None
              and r.performance.status != "no_labels"]
    for key in dict.fromkeys(_metric_key(p.task) for p in scored):
        values = [p.metrics[key] for p in scored if isinstance(p.metrics.get(key), (int, float))]
        if values:
            perf.append(Perf(key, min(values) if key == "accuracy" else max(values),
                             maximum=1 if key == "accuracy" else None))
    embeddings = [r.embedding.score for r in results if r.embedding is not None]
    if embeddings:
        perf.append(Perf("embedding_score", max(embeddings), maximum=1))
    effects: dict[str, tuple[float, bool]] = {}
    for d in drifts:
        for name, f in d.features.items():
            value, drifted = effects.get(name, (-math.inf, False))
            effect = f.effect_size if math.isfinite(f.effect_size) else -math.inf
            effects[name] = (max(value, effect), drifted or f.drifted)
    perf += _feature_perf({k: (v if v > -math.inf else math.nan, d) for k, (v, d) in effects.items()})

    details = []
    for r in results:
        details.append(_batch_line(r))
        for a in sorted(r.alerts, key=lambda a: -a.severity):
            details.append(f"  {a.severity.label.upper()} {text(a.kind.value)} {text(a.subject)}: {text(a.message)}")
    return output(overall, summary, perf, details)


def watch_output(results: list[BatchResult] | None, status: Status, alerts: list, view, directory: str) -> str:
    """``sentinel watch --once --format plugin`` (``results``: this run's new batches) and ``sentinel alerts DIR
    --format plugin`` (``results`` None: a look at a running monitor's state). The open alerts decide, as the exit
    status does; the numbers are the monitor view's: the latest table batch's drift, the rolling performance
    window, the latency of recent batches and the age of the latest batch."""
    import time

    acknowledged = sum(1 for a in alerts if a.status == "acknowledged")
    summary = _count(len(alerts), "open alert") + (f" ({acknowledged} acknowledged)" if acknowledged else "")
    if alerts:
        summary += ": " + subjects_by_kind((a.kind, a.subject, int(Severity[a.severity.upper()])) for a in alerts)
    if results is not None:
        summary += f", {_count(len(results), 'new batch', 'new batches')}" if results else ", no new batches"

    severities = [a.severity for a in alerts]
    stats = view.stats()
    perf = [Perf("open_alerts", len(alerts)), Perf("critical_alerts", severities.count("critical")),
            Perf("warning_alerts", severities.count("warning")), Perf("acknowledged_alerts", acknowledged)]
    if results is not None:
        perf.append(Perf("new_batches", len(results)))
    perf.append(Perf("batches", stats.batches, uom="c", minimum=None))
    if view.last_batch_at is not None:
        perf.append(Perf("last_batch_age", max(0.0, round(time.time() - view.last_batch_at, 1)), uom="s"))
    drift = view.drift
    if drift is not None:
        perf += [Perf("drift_share", drift.share, maximum=1),
                 Perf("drifted_features", drift.drifted_count, maximum=drift.tested_count)]
    window = view.performance
    if window is not None and window.metrics is not None:
        key = _metric_key(window.task)
        if isinstance(window.metrics.get(key), (int, float)):
            perf.append(Perf(key, window.metrics[key], maximum=1 if key == "accuracy" else None))
    frames = view.frames or {}  # the latest frame batch: its embedding result's fields
    if isinstance(frames.get("score"), (int, float)):
        perf.append(Perf("embedding_score", frames["score"], maximum=1))
    if stats.latency_p95 is not None:
        perf.append(Perf("latency_p95", stats.latency_p95, uom="s"))
    perf += _feature_perf({name: (f.effect_size, f.drifted) for name, f in view.features.items()})

    details = []
    for a in alerts:
        ack = " (acknowledged)" if a.status == "acknowledged" else ""
        details.append(f"{a.severity.upper()} #{a.id} {text(a.kind)} {text(a.subject)}{ack}: {text(a.message)} "
                       f"(x{a.count})")
    if window is not None:
        details.append(f"performance window of {window.labelled_rows} labelled rows: {window.status}: "
                       f"{text(window.message)}")
    if results:
        details += [_batch_line(r) for r in results]
    elif results is not None:
        details.append(f"no new batches in {text(directory)}")
    if view.batches:
        from sentinel_tui.model import iso_utc

        last = view.batches[-1]
        details.append(f"latest batch {text(last.file)}: {last.status} at {iso_utc(last.processed_at)}")
    return output(status, summary, perf, details)
