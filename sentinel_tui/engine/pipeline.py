"""load -> analyse for one file: the stateless core that ``check``, ``watch`` and the engine share."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa

from ..baseline.store import Baseline
from ..checks.drift import detect_drift
from ..checks.performance import batch_performance, performance_alerts, prediction_drift
from ..checks.validation import validate
from ..checks.verdict import batch_alerts, batch_status
from ..config import Settings
from ..io.csv_reader import BatchReadError, read_csv_batch
from ..model import AlertKind, AlertRecord, BatchResult, Finding, Severity, Status, worst_status


def _string_columns(baseline: Baseline) -> frozenset[str]:
    return frozenset(n for n, c in baseline.columns.items() if c.type in ("categorical", "text"))


def unreadable_result(path: Path, reason: str, seconds: float = 0.0) -> BatchResult:
    """A file that could not be analysed: a critical pipeline finding naming the file and the reason."""
    finding = Finding("unreadable", Severity.CRITICAL, AlertKind.PIPELINE, f"{path.name}: {reason}",
                      values={"file": str(path), "reason": reason})
    alert = AlertRecord(AlertKind.PIPELINE, Severity.CRITICAL, path.name, finding.message)
    return BatchResult(file=str(path), rows=0, columns=0, status=Status.CRITICAL, findings=(finding,),
                       drift=None, alerts=(alert,), seconds=seconds)


def analyse_file(path: Path, baseline: Baseline, settings: Settings, sink: dict | None = None) -> BatchResult:
    """Read and analyse one CSV batch. Never raises for bad input: problems become findings.
    ``sink``, when given, receives the coerced columns (the engine keeps predictions for late labels)."""
    start = time.perf_counter()
    path = Path(path)
    try:
        loaded = read_csv_batch(path, delimiter=settings.input.delimiter,
                                max_bytes=int(settings.input.max_file_mb * 1e6),
                                string_columns=_string_columns(baseline))
    except BatchReadError as exc:
        return unreadable_result(path, exc.reason, time.perf_counter() - start)
    return analyse_table(loaded.table, baseline, settings, file=str(path), duplicates=loaded.duplicates,
                         header_columns=len(loaded.header), start=start, sink=sink)


def analyse_table(table: pa.Table, baseline: Baseline, settings: Settings, *, file: str = "<table>",
                  duplicates: dict[str, int] | None = None, header_columns: int | None = None,
                  start: float | None = None, sink: dict | None = None) -> BatchResult:
    """Validate and drift-test an already parsed batch."""
    start = time.perf_counter() if start is None else start
    outcome = validate(baseline, table, duplicates or {}, settings.validation)
    if sink is not None:
        sink["columns"] = outcome.columns
    drift = detect_drift(baseline, outcome.columns, settings.drift) if outcome.columns else None
    perf = batch_performance(baseline, outcome.columns, settings) if outcome.columns else None
    pred = prediction_drift(baseline, outcome.columns, settings) if outcome.columns else None
    findings = outcome.findings
    alerts = [*batch_alerts(findings, drift), *performance_alerts(perf, pred)]
    status = worst_status([batch_status(findings, drift), *(Status.from_severity(a.severity) for a in alerts)])
    return BatchResult(file=file, rows=table.num_rows,
                       columns=header_columns if header_columns is not None else table.num_columns,
                       status=status, findings=tuple(findings), drift=drift, alerts=tuple(alerts),
                       seconds=time.perf_counter() - start, performance=perf, prediction_drift=pred)
