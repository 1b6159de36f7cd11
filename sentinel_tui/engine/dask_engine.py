"""The Dask engine: the same mergeable partial statistics as the local engine, computed where the data is.

Each file of a reference or batch is one task: a worker reads it (resolving the URL with its own credentials),
computes its partial (``baseline.partials`` for a baseline, ``checks.batch_summary`` for a check), partials
merge pairwise on the workers in a tree, and only the merged result comes back to this process, which
finishes it with the local engine's own code. Nothing but partials crosses the network to the client.

Without ``[engine] scheduler`` / ``--scheduler`` a ``distributed.LocalCluster`` sized to this machine is
started for the command and stopped after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sentinel_tui.baseline.build import assemble, check_roles, forced_type, role_of, sample_size, sample_table
from sentinel_tui.baseline.partials import (
    PartialSpec,
    finish_profile,
    infer_from_counts,
    kind_of,
    profile_partial,
)
from sentinel_tui.baseline.snapshot import Baseline, BaselineError, validate_name
from sentinel_tui.checks.batch_summary import (
    BatchSummary,
    PerformancePlan,
    attach_crossings,
    crossing_requests,
    interior,
    merge_interior,
    performance_partial,
    plan,
    summarise,
)
from sentinel_tui.checks.drift import detect_drift
from sentinel_tui.checks.validation import column_findings, per_column, schema_findings
from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import table_result, unreadable_result
from sentinel_tui.io.coerce import coerce
from sentinel_tui.io.columnar import (
    TableSource,
    is_table_location,
    open_dataset,
    read_one_file,
    relative_part,
    table_source,
)
from sentinel_tui.io.csv_reader import BatchReadError
from sentinel_tui.io.locations import is_url, shown
from sentinel_tui.model import AlertKind, BatchResult, Finding, Severity
from sentinel_tui.performance.assess import judge, prediction_drift
from sentinel_tui.performance.reference import (
    PerformanceReference,
    class_labels,
    class_summary,
    compute_metrics,
    infer_task,
    merge_class_summaries,
    with_classes,
)
from sentinel_tui.textsafe import fs_text

_SCHEDULER_WAIT = 15.0  # seconds


class ClusterError(Exception):
    """The cluster cannot be reached or started; one sentence."""


@contextlib.contextmanager
def cluster_client(settings: Settings) -> Iterator[Any]:
    """A ``distributed.Client`` of the configured scheduler, or of a LocalCluster started (and stopped) here."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError("the dask engine needs the dask extra (from the repository: pip install '.[dask]')") from exc
    address = settings.engine.scheduler
    if address:
        _reachable(address)
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {shown(address)}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    workers = max(1, min(os.cpu_count() or 1, 8))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def _reachable(address: str) -> None:
    """Fail at once when nothing listens at a tcp:// address (Dask's client would retry for its whole timeout)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp" or not parts.hostname or not parts.port:
        return  # tls://, inproc://, ...: left to Dask
    # A scheduler started a moment ago (`dask scheduler &` then this command) gets a few seconds to listen.
    deadline = time.monotonic() + _SCHEDULER_WAIT
    while True:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=10).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"cannot reach the Dask scheduler at {shown(address)} (tried for "
                                   f"{_SCHEDULER_WAIT:.0f} s): {exc.strerror or exc}") from exc
            time.sleep(0.5)


def tree_reduce(client: Any, futures: list, merge: Callable, *args: Any) -> Any:
    """Merge partial results pairwise on the workers; only the final one is gathered."""
    while len(futures) > 1:
        nxt = [client.submit(merge, a, b, *args, pure=False) for a, b in zip(futures[::2], futures[1::2],
                                                                               strict=False)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0].result()


def file_tasks(client: Any, src: TableSource, fn: Callable, *args: Any, columns: list[str] | None = None) -> list:
    """One task per file of ``src``: ``fn(table, part, *args)`` on the worker that reads it (``columns``: only
    those are read)."""
    schema = open_dataset(src).schema
    return [client.submit(_on_file, src.location.text if not src.location.is_local else src.location.path, path,
                          src.format, src.is_dataset, schema, columns, relative_part(src, path), fn, *args,
                          pure=False)
            for path in src.files]


def _on_file(text: str, path: str, fmt: str, is_dataset: bool, schema: pa.Schema, columns: list[str] | None,
             part: str, fn: Callable, *args: Any) -> Any:
    return fn(read_one_file(text, path, fmt, is_dataset, schema, columns), part, *args)


def _profile(table: pa.Table, part: str, spec: PartialSpec):
    return profile_partial(table, part, 0, spec)


def _merge_profiles(a, b, spec: PartialSpec):
    return a.merge(b, spec)


def build_baseline_on_cluster(reference: Path | str, name: str, settings: Settings) -> Baseline:
    """``build_baseline`` on a Dask cluster: the same baseline from the same files (exact counts, moments and
    sample; sketched quantiles: ``baseline.partials``)."""
    validate_name(name)
    if not is_table_location(reference):
        raise BaselineError(f"{shown(reference)}: the dask engine reads Parquet and Arrow IPC/Feather files and "
                            "datasets (local or by URL); a CSV reference is profiled by the local engine")
    try:
        src = table_source(reference)
        schema = open_dataset(src).schema
    except BatchReadError as exc:
        raise BaselineError(f"cannot read reference {shown(reference)}: {exc.reason}") from exc
    names = schema.names
    if len(set(names)) != len(names):
        raise BaselineError(f"reference {shown(reference)} has duplicate column names")
    check_roles(names, settings, shown(reference))
    inf = settings.inference
    kinds = {n: kind_of(schema.field(n).type, forced_type(n, settings) == "categorical",
                        forced_type(n, settings) == "datetime") for n in names}
    spec = PartialSpec(kinds, inf.seed, inf.sample_rows, inf.max_categories)
    try:
        with cluster_client(settings) as client:
            merged = tree_reduce(client, file_tasks(client, src, _profile, spec), _merge_profiles, spec)
            if merged.rows == 0:
                raise BaselineError(f"reference {shown(reference)} has no rows")
            types = {n: forced_type(n, settings) or infer_from_counts(merged.columns[n], inf.max_categories,
                                                                     inf.text_unique_ratio) for n in names}
            profiles = {n: finish_profile(n, types[n], role_of(n, settings), merged.columns[n],
                                          psi_bins=settings.drift.psi_bins,
                                          low_cardinality=settings.drift.low_cardinality,
                                          max_categories=inf.max_categories) for n in names}
            performance = _reference_performance(client, src, settings, profiles, types)
    except BatchReadError as exc:
        raise BaselineError(f"cannot read reference {shown(reference)}: {exc.reason}") from exc
    except ClusterError as exc:
        raise BaselineError(str(exc)) from exc
    rows = merged.sample.slice(0, sample_size(types.values(), settings))
    source = {"file": src.location.text if not src.location.is_local else Path(src.location.text).name,
              "format": src.format, "files": len(src.files), "sha256": src.fingerprint(),
              "sha256_of": "listing" if src.is_dataset or not src.location.is_local else "bytes",
              "rows": merged.rows, "columns": len(names), "engine": "dask"}
    return assemble(name, settings, profiles, sample_table(rows, types, settings), performance, source)


def _classes(table: pa.Table, part: str, types: dict[str, str], target: str, prediction: str) -> dict[str, int]:
    return class_summary(class_labels(coerce(table.column(target), types[target])),
                         class_labels(coerce(table.column(prediction), types[prediction])))


def _performance(table: pa.Table, part: str, plan: PerformancePlan):
    return performance_partial(table, plan)


def _merge_performance(a, b):
    return a if b is None else b if a is None else a.merge(b)


def _reference_performance(client: Any, src: TableSource, settings: Settings, profiles: dict, types: dict
                           ) -> PerformanceReference | None:
    """The model's reference performance over every reference row, as the local engine computes it: a pass
    for the classes (over the label and prediction columns only), then one for the counts of the metrics."""
    cols = settings.columns
    if not (cols.target and cols.prediction):
        return None
    task = infer_task(profiles[cols.target], settings)
    available = [n for n in profiles if role_of(n, settings) in ("target", "prediction", "score")]
    classes = {}
    if task != "regression":
        classes = tree_reduce(client, file_tasks(client, src, _classes, types, cols.target, cols.prediction,
                                                 columns=[cols.target, cols.prediction]), merge_class_summaries)
    perf = with_classes(task, cols.target, cols.prediction, cols.score, classes, available, cols.proba_prefix)
    plan = PerformancePlan.from_profiles(perf, profiles)
    counts = tree_reduce(client, file_tasks(client, src, _performance, plan, columns=list(plan.types)),
                         _merge_performance)
    ev = counts.evidence(perf) if counts is not None else None
    if ev is None or ev.n == 0:  # no labelled row: the local engine's metrics of nothing
        empty = np.zeros(0, np.float64 if perf.regression else object)
        return replace(perf, metrics=compute_metrics(perf, empty, empty, None), rows=0)
    return replace(perf, metrics=ev.metrics, rows=ev.n)


def _merge_summaries(a: BatchSummary, b: BatchSummary) -> BatchSummary:
    return a.merge(b)


def _first(summary_and_kept: tuple) -> BatchSummary:
    return summary_and_kept[0]


def _interior(summary_and_kept: tuple, plans: dict, wanted: dict) -> dict:
    return interior(summary_and_kept[1], plans, wanted)


def check_on_cluster(location: Path | str, baseline: Baseline, settings: Settings, client: Any) -> BatchResult:
    """``analyse_file`` on a Dask cluster for a Parquet/Arrow batch of any size: validation, drift, prediction
    drift and the dataset test from merged partition summaries (``checks.batch_summary``), never the whole batch
    in one process. A file that cannot be read is a finding, as locally."""
    start = time.perf_counter()
    shown_path = shown(location) if is_url(location) else Path(location)
    try:
        src = table_source(location)
        schema = open_dataset(src).schema
        plans = {n: cp for n, cp in plan(baseline, settings.drift).items() if n in schema.names}
        # Pass one; each file's sorted values stay on its worker for pass two (no second read or sort).
        # The plans hold each KS-tested column's reference points: sent to every worker once, not with each task.
        shared = client.scatter([plans], broadcast=True, hash=False)[0]
        passes = file_tasks(client, src, summarise, shared, PerformancePlan.of(baseline))
        summary = tree_reduce(client, [client.submit(_first, f, pure=False) for f in passes], _merge_summaries)
        requests = crossing_requests(summary)
        wanted = {n: intervals for n, (intervals, _) in requests.items() if intervals.size}
        # Pass two: the values inside the crossing intervals (a small share), gathered here and merged once;
        # merging them on the workers would move them between workers for nothing.
        inside = merge_interior(client.gather(
            [client.submit(_interior, f, shared, wanted, pure=False) for f in passes])) if wanted else {}
        client.cancel(passes)
    except BatchReadError as exc:
        return unreadable_result(shown_path, exc.reason, time.perf_counter() - start)
    attach_crossings(summary, requests, inside)
    counts = Counter(schema.names)
    duplicates = {n: k for n, k in counts.items() if k > 1}
    findings: list[Finding] = []
    if summary.rows == 0:
        findings.append(Finding("empty_batch", Severity.CRITICAL, AlertKind.DATA_QUALITY,
                                "empty batch: the file has a header but no rows", values={"rows": 0}))
    findings.extend(schema_findings(baseline, schema.empty_table(), duplicates))
    drift = pred = perf = None
    if summary.rows:
        vs = per_column(settings.validation, len(summary.columns))
        for n in summary.names:
            if n in summary.columns:
                findings.extend(column_findings(baseline.columns[n], summary.columns[n], vs))
        drift = detect_drift(baseline, summary.columns, settings.drift)
        pred = prediction_drift(baseline, summary.columns, settings)
        if summary.performance is not None:
            perf = judge(baseline.performance, summary.performance.evidence(baseline.performance),
                         settings.performance)
    return table_result(fs_text(shown(location)), summary.rows, len(schema.names), findings, drift, perf, pred,
                        start)


def check_on_scheduler(location: Path | str, baseline: Baseline, settings: Settings) -> BatchResult:
    """A batch too large for this process, handed to the configured cluster (``[engine] scheduler``). A cluster
    that cannot be reached leaves the batch unanalysed with a critical finding saying so: never silence."""
    start = time.perf_counter()
    try:
        with cluster_client(settings) as client:
            return check_on_cluster(location, baseline, settings, client)
    except ClusterError as exc:
        return unreadable_result(shown(location) if is_url(location) else Path(location),
                                 f"over the memory budget for one batch, and {exc}", time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 (a worker lost, killed or out of memory: this batch, not the monitor)
        return unreadable_result(shown(location) if is_url(location) else Path(location),
                                 f"over the memory budget for one batch, and the Dask cluster failed on it: "
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                                 time.perf_counter() - start)
