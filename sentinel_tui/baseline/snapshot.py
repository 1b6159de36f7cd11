"""The baseline snapshot on disk: ``baseline.json`` + ``sample.parquet`` (+ ``frames.npz`` and ``embedder.npz``
for frames), never pickle.

Loading parses JSON and Parquet only, so a baseline from an untrusted source cannot execute code.
What can be derived from the sample (sorted arrays for the exact tests) is derived at load time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sentinel_tui import __version__
from sentinel_tui.baseline.integrity import ShapeError, check_baseline
from sentinel_tui.baseline.profile import ColumnProfile
from sentinel_tui.io.coerce import float64_numpy
from sentinel_tui.stats.univariate import SortedReference

if TYPE_CHECKING:  # the frame reference is imported when a baseline has one, not for every table check
    from sentinel_tui.frames.frame_reference import FrameReference
    from sentinel_tui.performance.reference import PerformanceReference

# 1: tabular. 2: adds the optional frame reference; tabular-only baselines are still written as 1 so older
# releases keep reading them, and an older release refuses a frame baseline instead of ignoring its frames.
FORMAT_VERSION = 2
META_FILE = "baseline.json"
SAMPLE_FILE = "sample.parquet"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BaselineError(Exception):
    """A baseline that cannot be found, read or used (exit status 3)."""


@dataclass
class Baseline:
    name: str
    meta: dict[str, Any]  # format_version, tool_version, created_at, source, settings
    columns: dict[str, ColumnProfile]
    sample: pa.Table
    path: Path | None = None
    frames: FrameReference | None = None
    _sorted: dict[str, SortedReference] = field(default_factory=dict, repr=False)
    # Values derived from the reference by a check on first use and kept for the next batches (never saved).
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def has_table(self) -> bool:
        return bool(self.columns)

    @property
    def roles(self) -> dict[str, str | None]:
        return dict(self.meta.get("roles", {}))

    @cached_property
    def performance(self) -> PerformanceReference | None:
        """The model's task, classes and reference metrics (None: no --target/--prediction at create)."""
        from sentinel_tui.performance.reference import performance_of

        return performance_of(self.meta)

    @cached_property
    def features(self) -> list[ColumnProfile]:
        return [c for c in self.columns.values() if c.role == "feature"]

    def sorted_reference(self, column: str) -> SortedReference:
        """The reference sample of one numeric column, sorted once and cached."""
        ref = self._sorted.get(column)
        if ref is None:
            ref = SortedReference.from_values(float64_numpy(self.sample.column(column)))
            self._sorted[column] = ref
        return ref

    def to_json(self) -> dict[str, Any]:
        out = {**self.meta, "name": self.name, "columns": [c.to_dict() for c in self.columns.values()]}
        out["format_version"] = 2 if self.frames is not None else 1
        if self.frames is not None:
            out["frames"] = self.frames.meta
        return out


def validate_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise BaselineError(f"invalid baseline name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return name


def save_baseline(baseline: Baseline, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tmp_meta = directory / (META_FILE + ".tmp")
    tmp_sample = directory / (SAMPLE_FILE + ".tmp")
    import pyarrow.parquet as pq

    pq.write_table(baseline.sample, tmp_sample, **_sample_encoding(baseline))
    pairs = []
    if baseline.frames is not None:
        from sentinel_tui.frames.frame_reference import save_frames

        pairs = save_frames(baseline.frames, directory)
    tmp_meta.write_text(json.dumps(baseline.to_json(), indent=2, allow_nan=False), encoding="utf-8")
    # Replace the files only once all are written, and the metadata last, so a crash never leaves a baseline
    # whose baseline.json describes files that are not there.
    for tmp, final in pairs:
        tmp.replace(final)
    tmp_sample.replace(directory / SAMPLE_FILE)
    tmp_meta.replace(directory / META_FILE)
    baseline.path = directory
    return directory


def _sample_encoding(baseline: Baseline) -> dict[str, Any]:
    """How the sample is written: every ``sentinel check`` reads it whole, so for speed. LZ4 decompresses about
    three times faster than zstd; a dictionary only where a column has few distinct values (it makes those
    small; for continuous values it is larger than the values and slower to read). Measured on 50,000 rows x
    20 columns of continuous values: 3.7 ms to read (8.0 MB) against 14 ms (9.6 MB) with zstd and dictionaries."""
    rows = baseline.sample.num_rows
    few = [n for n in baseline.sample.column_names
           if (c := baseline.columns.get(n)) is not None and c.distinct <= rows // 4]
    return {"compression": "lz4", "use_dictionary": few}


def resolve_baseline_path(name_or_path: str, baselines_dir: Path) -> Path:
    """A baseline is named (``baselines/NAME``) or given as a directory or its baseline.json."""
    p = Path(name_or_path)
    if p.name == META_FILE and p.is_file():
        return p.parent
    if p.is_dir() and (p / META_FILE).is_file():
        return p
    candidate = baselines_dir / name_or_path
    if (candidate / META_FILE).is_file():
        return candidate
    raise BaselineError(f"baseline {name_or_path!r} not found (looked in {baselines_dir}/ and as a path); "
                        "create it with 'sentinel baseline create REF.csv --name NAME'")


def load_baseline(name_or_path: str, baselines_dir: Path) -> Baseline:
    """Load and check a baseline. Every way it can be unusable (unreadable, not JSON, a field of the wrong type
    or shape, a sample that does not match) raises BaselineError with the file and the cause."""
    directory = resolve_baseline_path(name_or_path, baselines_dir)
    meta_path = directory / META_FILE
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise BaselineError(f"cannot read baseline {meta_path}: {reason}") from None
    if not isinstance(data, dict) or "format_version" not in data or "columns" not in data:
        raise BaselineError(f"{meta_path} is not a Sentinel baseline (no format_version/columns)")
    version = data["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BaselineError(f"{meta_path}: format_version: expected a whole number >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise BaselineError(
            f"baseline {meta_path} has format version {version}, newer than this Sentinel understands "
            f"({FORMAT_VERSION}); upgrade sentinel-tui (this is {__version__}) or rebuild the baseline")
    try:
        check_baseline(data)
    except ShapeError as exc:
        raise BaselineError(f"{meta_path} is not a usable baseline: {exc}") from None
    columns = {c["name"]: ColumnProfile.from_dict(c) for c in data["columns"]}
    try:
        sample = _read_sample(directory / SAMPLE_FILE)
    except (OSError, pa.ArrowException) as exc:
        raise BaselineError(f"cannot read the baseline sample {directory / SAMPLE_FILE}: {exc}") from exc
    _check_sample(sample, columns, directory / SAMPLE_FILE)
    meta = {k: v for k, v in data.items() if k not in ("columns", "name", "frames")}
    frames = None
    if isinstance(data.get("frames"), dict):
        from sentinel_tui.frames.frame_reference import load_frames

        try:
            frames = load_frames(data["frames"], directory)
        except Exception as exc:  # noqa: BLE001 (any malformed frame reference is the baseline's problem)
            raise BaselineError(f"cannot read the frame reference in {directory}: {exc!r}") from exc
    return Baseline(name=str(data.get("name", directory.name)), meta=meta, columns=columns, sample=sample,
                    path=directory, frames=frames)


def _read_sample(path: Path) -> pa.Table:
    """The sample table, read with pyarrow's Parquet reader itself, as ``pq.ParquetFile(path).read()`` does: the
    pyarrow.parquet module imports pyarrow.fs, and with it ssl and every cloud file system (20 ms of a 0.35 s
    ``sentinel check``), and ``pq.read_table`` goes through pyarrow.dataset, which imports pandas (0.4 s)."""
    try:
        from pyarrow._parquet import ParquetReader
    except ImportError:  # pragma: no cover (a pyarrow that moved it)
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as sample_file:
            return sample_file.read()
    with pa.OSFile(str(path)) as source:
        reader = ParquetReader()
        reader.open(source)
        return reader.read_all()


def _check_sample(sample: pa.Table, columns: dict[str, ColumnProfile], path: Path) -> None:
    """The sample must hold every numeric feature, with values the exact tests can sort."""
    types = {f.name: f.type for f in sample.schema}
    for c in columns.values():
        if c.role != "feature" or c.type != "numeric":
            continue
        if c.name not in types:
            raise BaselineError(f"{path} lacks the column {c.name!r} that baseline.json profiles")
        kind = types[c.name]
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                        or pa.types.is_null(kind)):
            raise BaselineError(f"{path}: column {c.name!r} is {kind} in the sample but numeric in baseline.json")


def list_baselines(baselines_dir: Path) -> list[dict[str, Any]]:
    out = []
    if not baselines_dir.is_dir():
        return out
    for d in sorted(baselines_dir.iterdir()):
        meta = d / META_FILE
        if not meta.is_file():
            continue
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            out.append({"name": data.get("name", d.name), "path": str(d),
                        "rows": (data.get("source") or {}).get("rows"),
                        "frames": (data.get("frames") or {}).get("frames"),
                        "columns": len(data.get("columns", [])),
                        "created_at": data.get("created_at"),
                        "format_version": data.get("format_version")})
        except (OSError, ValueError):
            out.append({"name": d.name, "path": str(d), "error": "unreadable baseline.json"})
    return out
