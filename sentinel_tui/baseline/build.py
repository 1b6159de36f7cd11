"""Build a baseline from a reference CSV."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from sentinel_tui import __version__
from sentinel_tui.baseline.profile import ColumnProfile, build_profile, infer_type
from sentinel_tui.baseline.snapshot import FORMAT_VERSION, Baseline, BaselineError, validate_name
from sentinel_tui.config import Settings
from sentinel_tui.io.coerce import coerce
from sentinel_tui.io.columnar import is_table_location, normalise, read_columnar, table_source
from sentinel_tui.io.csv_reader import BatchReadError, read_csv_batch
from sentinel_tui.io.locations import shown
from sentinel_tui.performance.reference import PerformanceReference, infer_task, reference_performance
from sentinel_tui.stats.mergeable import bottom_k, row_keys


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def role_of(name: str, settings: Settings) -> str:
    cols = settings.columns
    if name in cols.ignore:
        return "ignored"
    for role in ("target", "prediction", "score", "id", "timestamp"):
        if getattr(cols, role) == name:
            return role
    if cols.proba_prefix and name.startswith(cols.proba_prefix):
        return "score"
    return "feature"


def sample_size(types, settings: Settings) -> int:
    """Rows in the reference sample: ``sample_rows``, fewer for wide tables (``sample_cells``)."""
    inf = settings.inference
    per_row_cells = max(1, sum(1 for t in types if t in ("numeric", "datetime", "boolean")))
    return min(inf.sample_rows, max(1000, inf.sample_cells // per_row_cells))


def sample_rows(parts, seed: int, size: int) -> np.ndarray:
    """Positions of the sample's rows in the concatenated table: the ``size`` rows of smallest key, in key order
    (``stats.mergeable``: the Dask engine draws the very same rows from the same files)."""
    keys = np.concatenate([row_keys(seed, part, 0, rows) for part, rows in parts]) if parts else np.zeros(0, np.uint64)
    return bottom_k(keys, size)


def _read_reference(reference: Path | str, settings: Settings) -> tuple[pa.Table, dict, tuple]:
    """The reference as one table (CSV, or Parquet / Arrow IPC files and datasets, local or by URL) and how to
    name its source in the baseline."""
    if is_table_location(reference):
        try:
            src = table_source(reference)
            loaded = read_columnar(reference)
        except BatchReadError as exc:
            raise BaselineError(f"cannot read reference {shown(reference)}: {exc.reason}") from exc
        source = {"file": src.location.text if not src.location.is_local else Path(src.location.text).name,
                  "format": src.format, "files": len(src.files), "sha256": src.fingerprint(),
                  "sha256_of": "listing" if src.is_dataset or not src.location.is_local else "bytes"}
    else:
        try:
            loaded = read_csv_batch(Path(reference), delimiter=settings.input.delimiter)
        except BatchReadError as exc:
            raise BaselineError(f"cannot read reference {reference}: {exc.reason}") from exc
        source = {"file": str(Path(reference).name), "format": "csv", "sha256": sha256_file(Path(reference))}
    if loaded.duplicates:
        raise BaselineError(f"reference {shown(reference)} has duplicate column names: {sorted(loaded.duplicates)}")
    return loaded.table, source, loaded.parts or (("", loaded.table.num_rows),)


def check_roles(columns: list[str], settings: Settings, reference: str) -> None:
    """Every column named by a role or option exists (raises ``BaselineError`` naming the first that does not)."""
    cols = settings.columns
    if cols.task not in (None, "binary", "multiclass", "regression"):
        raise BaselineError(f"--task must be binary, multiclass or regression, not {cols.task!r}")
    for role in ("target", "prediction", "score", "id", "timestamp"):
        col = getattr(cols, role)
        if col is not None and col not in columns:
            raise BaselineError(f"--{role} column {col!r} is not in {reference} (columns: {', '.join(columns[:20])})")
    for col in [*cols.categorical, *cols.ignore]:
        if col not in columns:
            raise BaselineError(f"column {col!r} is not in {reference}")


def forced_type(name: str, settings: Settings) -> str | None:
    """The type a role imposes: categorical for --categorical and the id column, datetime for the timestamp."""
    cols = settings.columns
    if name == cols.timestamp:
        return "datetime"
    return "categorical" if name in cols.categorical or name == cols.id else None


def sample_table(rows: pa.Table, types: dict[str, str], settings: Settings) -> pa.Table:
    """The stored reference sample from the sampled rows of the reference: numbers (numeric, datetime, boolean
    as float64) of every column that is not ignored, and the categorical features as text. The categories come
    with the same rows as the numbers: the dataset-level test needs the features' joint distribution."""
    out: dict[str, pa.Array] = {}
    for n in rows.column_names:
        role = role_of(n, settings)
        if types[n] in ("numeric", "datetime", "boolean") and role != "ignored":
            out[n] = pa.array(coerce(rows.column(n), types[n]).values, type=pa.float64())
        elif types[n] == "categorical" and role == "feature":
            out[n] = coerce(rows.column(n), "categorical").values.cast(pa.string())
    return pa.table(out) if out else pa.table({"_empty": pa.array([], pa.float64())})


def assemble(name: str, settings: Settings, profiles: dict[str, ColumnProfile], sample: pa.Table,
             performance: PerformanceReference | None, source: dict) -> Baseline:
    """The baseline from its profiles and sample (either engine), with the reference performance and metadata."""
    cols = settings.columns
    meta = {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {**source, "sample_rows": sample.num_rows},
        "roles": {"target": cols.target, "prediction": cols.prediction, "score": cols.score,
                  "proba_prefix": cols.proba_prefix, "id": cols.id,
                  "timestamp": cols.timestamp, "categorical": list(cols.categorical),
                  "ignore": list(cols.ignore)},
        "performance": performance.to_dict() if performance is not None else None,
        "settings": {"inference": settings.to_dict()["inference"], "delimiter": settings.input.delimiter,
                     "psi_bins": settings.drift.psi_bins, "low_cardinality": settings.drift.low_cardinality},
    }
    return Baseline(name=name, meta=meta, columns=profiles, sample=sample)


def build_baseline(reference: Path | str, name: str, settings: Settings) -> Baseline:
    validate_name(name)
    table, source, parts = _read_reference(reference, settings)
    reference = shown(reference)
    if table.num_rows == 0:
        raise BaselineError(f"reference {reference} has no rows")
    check_roles(table.column_names, settings, reference)
    inf = settings.inference
    types: dict[str, str] = {}
    for n in table.column_names:
        forced = forced_type(n, settings)
        types[n] = "datetime" if forced == "datetime" else infer_type(
            table.column(n), forced == "categorical", inf.max_categories, inf.text_unique_ratio)
    string_cols = frozenset(n for n, t in types.items() if t in ("categorical", "text"))
    needs_reread = [n for n in string_cols if not pa.types.is_string(table.column(n).type)]
    if needs_reread and source["format"] == "csv":
        # Categories must be compared as the text written in the file ("007" stays "007").
        table = read_csv_batch(Path(reference), delimiter=settings.input.delimiter,
                               string_columns=string_cols).table
    elif needs_reread:
        table = normalise(table, string_cols)  # typed files: the integer code 7 is the category "7"

    profiles = {}
    performance_columns = {}
    for n in table.column_names:
        role = role_of(n, settings)
        c = coerce(table.column(n), types[n])
        if role in ("target", "prediction", "score"):
            performance_columns[n] = c
        profiles[n] = build_profile(n, types[n], role, c, psi_bins=settings.drift.psi_bins,
                                    low_cardinality=settings.drift.low_cardinality,
                                    max_categories=inf.max_categories)
    take = sample_rows(parts, inf.seed, sample_size(types.values(), settings))
    sample = sample_table(table.take(pa.array(take)), types, settings)
    source = {**source, "rows": table.num_rows, "columns": table.num_columns}
    cols = settings.columns
    performance = None
    if cols.target and cols.prediction:
        performance = reference_performance(infer_task(profiles[cols.target], settings), cols.target,
                                            cols.prediction, cols.score, performance_columns, cols.proba_prefix)
    return assemble(name, settings, profiles, sample, performance, source)
