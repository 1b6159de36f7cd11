"""Build a baseline from a reference CSV."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from sentinel_tui import __version__
from sentinel_tui.baseline.profile import build_profile, infer_type
from sentinel_tui.baseline.snapshot import FORMAT_VERSION, Baseline, BaselineError, validate_name
from sentinel_tui.config import Settings
from sentinel_tui.io.coerce import coerce
from sentinel_tui.io.columnar import is_table_location, normalise, read_columnar, table_source
from sentinel_tui.io.csv_reader import BatchReadError, read_csv_batch
from sentinel_tui.io.locations import shown
from sentinel_tui.performance.reference import infer_task, reference_performance


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _role_of(name: str, settings: Settings) -> str:
    cols = settings.columns
    if name in cols.ignore:
        return "ignored"
    for role in ("target", "prediction", "score", "id", "timestamp"):
        if getattr(cols, role) == name:
            return role
    if cols.proba_prefix and name.startswith(cols.proba_prefix):
        return "score"
    return "feature"


def _read_reference(reference: Path | str, settings: Settings) -> tuple[pa.Table, dict]:
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
    return loaded.table, source


def build_baseline(reference: Path | str, name: str, settings: Settings) -> Baseline:
    validate_name(name)
    cols = settings.columns
    table, source = _read_reference(reference, settings)
    reference = shown(reference)
    if table.num_rows == 0:
        raise BaselineError(f"reference {reference} has no rows")
    if cols.task not in (None, "binary", "multiclass", "regression"):
        raise BaselineError(f"--task must be binary, multiclass or regression, not {cols.task!r}")
    for role in ("target", "prediction", "score", "id", "timestamp"):
        col = getattr(cols, role)
        if col is not None and col not in table.column_names:
            raise BaselineError(f"--{role} column {col!r} is not in {reference} "
                                f"(columns: {', '.join(table.column_names[:20])})")
    for col in [*cols.categorical, *cols.ignore]:
        if col not in table.column_names:
            raise BaselineError(f"column {col!r} is not in {reference}")

    inf = settings.inference
    types: dict[str, str] = {}
    for n in table.column_names:
        forced = n in cols.categorical or n == cols.id
        types[n] = "datetime" if n == cols.timestamp else infer_type(
            table.column(n), forced, inf.max_categories, inf.text_unique_ratio)
    string_cols = frozenset(n for n, t in types.items() if t in ("categorical", "text"))
    needs_reread = [n for n in string_cols if not pa.types.is_string(table.column(n).type)]
    if needs_reread and source["format"] == "csv":
        # Categories must be compared as the text written in the file ("007" stays "007").
        table = read_csv_batch(Path(reference), delimiter=settings.input.delimiter,
                               string_columns=string_cols).table
    elif needs_reread:
        table = normalise(table, string_cols)  # typed files: the integer code 7 is the category "7"

    profiles = {}
    coerced = {}
    sample_columns: dict[str, pa.Array] = {}
    rng = np.random.default_rng(inf.seed)
    per_row_cells = max(1, sum(1 for t in types.values() if t in ("numeric", "datetime", "boolean")))
    cap = min(inf.sample_rows, max(1000, inf.sample_cells // per_row_cells))
    take = np.sort(rng.choice(table.num_rows, size=cap, replace=False)) if table.num_rows > cap else None
    for n in table.column_names:
        role = _role_of(n, settings)
        c = coerce(table.column(n), types[n])
        if role in ("target", "prediction", "score"):
            coerced[n] = c
        profiles[n] = build_profile(n, types[n], role, c, psi_bins=settings.drift.psi_bins,
                                    low_cardinality=settings.drift.low_cardinality,
                                    max_categories=inf.max_categories)
        if types[n] in ("numeric", "datetime", "boolean") and role != "ignored":
            values = c.values if take is None else c.values[take]
            sample_columns[n] = pa.array(values, type=pa.float64())
        elif types[n] == "categorical" and role == "feature":
            # The same rows as the numeric columns: the dataset-level test needs the features' joint
            # distribution (categories as indicators), not only each one's counts.
            values = pa.array(c.values) if not isinstance(c.values, pa.Array) else c.values
            sample_columns[n] = (values if take is None else values.take(pa.array(take))).cast(pa.string())
    sample = pa.table(sample_columns) if sample_columns else pa.table({"_empty": pa.array([], pa.float64())})

    performance = None
    if cols.target and cols.prediction:
        task = infer_task(profiles[cols.target], settings)
        performance = reference_performance(task, cols.target, cols.prediction, cols.score, coerced,
                                            cols.proba_prefix)
    meta = {
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {**source, "rows": table.num_rows, "columns": table.num_columns, "sample_rows": sample.num_rows},
        "roles": {"target": cols.target, "prediction": cols.prediction, "score": cols.score,
                  "proba_prefix": cols.proba_prefix, "id": cols.id,
                  "timestamp": cols.timestamp, "categorical": list(cols.categorical),
                  "ignore": list(cols.ignore)},
        "performance": performance.to_dict() if performance is not None else None,
        "settings": {"inference": settings.to_dict()["inference"], "delimiter": settings.input.delimiter,
                     "psi_bins": settings.drift.psi_bins, "low_cardinality": settings.drift.low_cardinality},
    }
    return Baseline(name=name, meta=meta, columns=profiles, sample=sample)
