"""load -> analyse for one file: the stateless core that ``check``, ``watch`` and the engine share."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from sentinel_tui.baseline.snapshot import Baseline
from sentinel_tui.checks.drift import detect_drift
from sentinel_tui.checks.validation import validate
from sentinel_tui.checks.verdict import batch_alerts, batch_status
from sentinel_tui.config import Settings, batch_memory_limit
from sentinel_tui.engine.alertbook import FRAMES_SUBJECT, TABLE_SUBJECT
from sentinel_tui.frames.readers import ARRAY_SUFFIXES, FrameReadError
from sentinel_tui.io.columnar import is_table_location, read_columnar
from sentinel_tui.io.csv_reader import BatchReadError, LoadedTable, TooLargeForMemory, read_csv_batch
from sentinel_tui.io.locations import is_url, shown
from sentinel_tui.model import AlertKind, AlertRecord, BatchResult, Finding, Severity, Status, worst_status
from sentinel_tui.performance.assess import batch_performance, performance_alerts, prediction_drift
from sentinel_tui.textsafe import fs_text


def _string_columns(baseline: Baseline) -> frozenset[str]:
    return frozenset(n for n, c in baseline.columns.items() if c.type in ("categorical", "text"))


def _file_result(path: Path | str, check: str, severity: Severity, reason: str, seconds: float = 0.0
                 ) -> BatchResult:
    """A file that was not analysed: one pipeline finding naming the file and the reason, and an alert on the
    file when the finding is a warning or worse."""
    text = shown(path) if is_url(path) else str(path)
    name = fs_text(text.rstrip("/").rsplit("/", 1)[-1] if is_url(path) else Path(path).name)
    finding = Finding(check, severity, AlertKind.PIPELINE, f"{name}: {reason}",
                      values={"file": fs_text(text), "reason": reason})
    alerts = (AlertRecord(AlertKind.PIPELINE, severity, name, finding.message),) if severity >= Severity.WARNING \
        else ()
    return BatchResult(file=fs_text(text), rows=0, columns=0, status=Status.from_severity(severity),
                       findings=(finding,), drift=None, alerts=alerts, seconds=seconds)


def unreadable_result(path: Path | str, reason: str, seconds: float = 0.0) -> BatchResult:
    """A file that could not be analysed: a critical pipeline finding (and alert) naming it and the reason."""
    return _file_result(path, "unreadable", Severity.CRITICAL, reason, seconds)


def ignored_result(path: Path, reason: str) -> BatchResult:
    """An entry that is never read (a FIFO, a device, a symbolic link not followed): reported once, as an info
    finding naming it and why; no alert (nothing was expected of it), no rows."""
    return _file_result(path, "ignored_entry", Severity.INFO, reason)


def is_frame_batch(path: Path | str) -> bool:
    """Frame batches are directories of images or .npy/.npz arrays; a directory of Parquet/Arrow files or a URL
    is a table, and everything else is read as CSV."""
    if is_url(path):
        return False
    path = Path(path)
    if path.is_dir():
        return not is_table_location(path)
    return path.name.lower().endswith(ARRAY_SUFFIXES)


def analyse_path(path: Path | str, baseline: Baseline, settings: Settings, sink: dict | None = None,
                 follow_symlinks: bool = True) -> BatchResult:
    """Route one batch by type: frames to the embeddings check, anything else to the tabular checks.
    ``follow_symlinks`` False: a file that is (or became) a symbolic link is refused, not read."""
    if is_frame_batch(path):
        return analyse_frames(Path(path), baseline, settings)
    return analyse_file(path, baseline, settings, sink=sink, follow_symlinks=follow_symlinks)


def read_table_batch(path: Path | str, settings: Settings, string_columns: frozenset[str] = frozenset(),
                     follow_symlinks: bool = True) -> LoadedTable:
    """One batch as a table, whatever its format: CSV (plain or compressed), or Parquet / Arrow IPC files and
    datasets, local or behind a URL."""
    limits = {"max_bytes": int(settings.input.max_file_mb * 1e6), "max_memory": batch_memory_limit(settings),
              "string_columns": string_columns, "follow_symlinks": follow_symlinks}
    if is_table_location(path):
        return read_columnar(path, **limits)
    return read_csv_batch(Path(path), delimiter=settings.input.delimiter, **limits)


def _stream_problem(path: Path, message: str, start: float, subject: str = FRAMES_SUBJECT) -> BatchResult:
    """A batch that cannot be analysed for a reason shared by every batch of its stream (the frames extra is
    missing, the baseline has no frames or no table): one alert with a fixed subject, updated rather than
    raised per batch."""
    finding = Finding(f"{subject.strip('()')}_unavailable", Severity.CRITICAL, AlertKind.PIPELINE,
                      f"{fs_text(path.name)}: {message}", column=subject,
                      values={"file": fs_text(str(path)), "reason": message})
    alert = AlertRecord(AlertKind.PIPELINE, Severity.CRITICAL, subject, message)
    return BatchResult(file=fs_text(str(path)), rows=0, columns=0, status=Status.CRITICAL, findings=(finding,),
                       drift=None, alerts=(alert,), seconds=time.perf_counter() - start,
                       kind="frames" if subject == FRAMES_SUBJECT else "table")


def analyse_frames(path: Path, baseline: Baseline, settings: Settings) -> BatchResult:
    """Load, embed and compare one frame batch. Never raises for bad input: problems become findings."""
    start = time.perf_counter()
    if baseline.frames is None:
        return _stream_problem(path, f"baseline {baseline.name!r} has no frame reference; create one with "
                                     "'sentinel baseline create --frames REF_DIR --name NAME'", start)
    import sentinel_tui.frames.embedding_drift as emb
    from sentinel_tui.frames.embedder import FramesUnavailable, WeightsError, require_frames_extra

    try:
        require_frames_extra()
    except FramesUnavailable as exc:
        return _stream_problem(path, str(exc), start)
    s = settings.frames
    try:
        batch = emb.load_batch(path, baseline.frames, s, max_bytes=batch_memory_limit(settings))
    except FrameReadError as exc:
        result = unreadable_result(path, exc.reason, time.perf_counter() - start)
        return replace(result, kind="frames")
    if len(batch.names) < s.min_frames:
        finding = Finding("too_few_frames", Severity.INFO, AlertKind.EMBEDDING,
                          f"{fs_text(path.name)}: {len(batch.names)} usable frame(s), fewer than frames.min_frames = "
                          f"{s.min_frames}: too few for a verdict", column="(frames)",
                          values={"frames": len(batch.names), "min_frames": s.min_frames})
        return BatchResult(file=fs_text(str(path)), rows=len(batch.names), columns=0, status=Status.OK,
                           findings=(*emb.frame_findings(batch, s), finding), drift=None, alerts=(),
                           seconds=time.perf_counter() - start, kind="frames")
    try:
        embedder = emb.reference_embedder(baseline.frames, s)
    except (FramesUnavailable, WeightsError) as exc:
        return _stream_problem(path, str(exc), start)
    result = emb.embedding_drift(batch, baseline.frames, embedder, s)
    findings = emb.frame_findings(batch, s)
    alerts = [*batch_alerts(findings, None), *emb.embedding_alerts(result)]
    status = worst_status([batch_status(findings, None), *(Status.from_severity(a.severity) for a in alerts)])
    return BatchResult(file=fs_text(str(path)), rows=result.frames, columns=0, status=status, findings=tuple(findings),
                       drift=None, alerts=tuple(alerts), seconds=time.perf_counter() - start, kind="frames",
                       embedding=result)


def analyse_file(path: Path | str, baseline: Baseline, settings: Settings, sink: dict | None = None,
                 follow_symlinks: bool = True) -> BatchResult:
    """Read and analyse one table batch (CSV, Parquet, Arrow IPC). Never raises for bad input: problems become
    findings. ``sink``, when given, receives the coerced columns (the engine keeps predictions for late
    labels)."""
    start = time.perf_counter()
    shown_path = shown(path) if is_url(path) else Path(path)
    if not baseline.has_table:
        return _stream_problem(Path(shown_path), f"baseline {baseline.name!r} has only a frame reference; table "
                                                 "batches need a baseline created from a reference table", start,
                               subject=TABLE_SUBJECT)
    try:
        loaded = read_table_batch(path, settings, _string_columns(baseline), follow_symlinks)
    except TooLargeForMemory as exc:
        if settings.engine.scheduler and settings.engine.watch_offload and is_table_location(path):
            from sentinel_tui.engine.dask_engine import check_on_scheduler

            return check_on_scheduler(path, baseline, settings)
        return unreadable_result(shown_path, exc.reason, time.perf_counter() - start)
    except BatchReadError as exc:
        return unreadable_result(shown_path, exc.reason, time.perf_counter() - start)
    # The parsed table is dropped once validated (its columns are coerced into arrays of their own): on a
    # 500 MB batch that is 440 MB less at the peak of the drift tests.
    holder, duplicates, header_columns = [loaded.table], loaded.duplicates, len(loaded.header)
    del loaded
    checked = _validated(holder, baseline, settings, duplicates)
    return _analysed(checked, baseline, settings, file=fs_text(shown(path)), header_columns=header_columns,
                     start=start, sink=sink)


def _validated(holder: list[pa.Table], baseline: Baseline, settings: Settings, duplicates: dict[str, int] | None
               ) -> tuple:
    """Validation of the table in ``holder``, which is handed over (popped) so its columns can be released
    as they are coerced."""
    rows, columns = holder[0].num_rows, holder[0].num_columns
    return validate(baseline, holder.pop(), duplicates or {}, settings.validation), rows, columns


def analyse_table(table: pa.Table, baseline: Baseline, settings: Settings, *, file: str = "<table>",
                  duplicates: dict[str, int] | None = None, header_columns: int | None = None,
                  start: float | None = None, sink: dict | None = None) -> BatchResult:
    """Validate and drift-test an already parsed batch."""
    return _analysed(_validated([table], baseline, settings, duplicates), baseline, settings, file=file,
                     header_columns=header_columns, start=start, sink=sink)


def _analysed(checked: tuple, baseline: Baseline, settings: Settings, *, file: str, header_columns: int | None,
              start: float | None, sink: dict | None) -> BatchResult:
    start = time.perf_counter() if start is None else start
    outcome, num_rows, num_columns = checked
    if sink is not None:
        sink["columns"] = outcome.columns
    drift = detect_drift(baseline, outcome.columns, settings.drift) if outcome.columns else None
    perf = batch_performance(baseline, outcome.columns, settings) if outcome.columns else None
    pred = prediction_drift(baseline, outcome.columns, settings) if outcome.columns else None
    return table_result(file, num_rows, header_columns if header_columns is not None else num_columns,
                        outcome.findings, drift, perf, pred, start)


def table_result(file: str, rows: int, columns: int, findings: list[Finding], drift, perf, pred, start: float
                 ) -> BatchResult:
    """A table batch's result from its findings and test results (either engine): its alerts and status."""
    alerts = [*batch_alerts(findings, drift), *performance_alerts(perf, pred)]
    status = worst_status([batch_status(findings, drift), *(Status.from_severity(a.severity) for a in alerts)])
    return BatchResult(file=file, rows=rows, columns=columns, status=status, findings=tuple(findings), drift=drift,
                       alerts=tuple(alerts), seconds=time.perf_counter() - start, performance=perf,
                       prediction_drift=pred)
