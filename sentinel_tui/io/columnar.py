"""Read Parquet and Arrow IPC (Feather) references and batches: single files, directories of files and hive-
partitioned datasets, on local disk or behind a URL (see ``locations``).

Types come from the file's schema, not from parsing text. Every way such a file can be bad (not Parquet, a
truncated footer, files of one dataset that disagree, a batch too large for this process) becomes a
``BatchReadError`` with one sentence, like a bad CSV. Files are opened read-only and never modified.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from sentinel_tui.io.csv_reader import BatchReadError, LoadedTable, TooLargeForMemory, open_batch_file
from sentinel_tui.io.locations import Location, LocationError, MissingFilesystem, is_url, resolve, shown

if TYPE_CHECKING:
    import pyarrow.fs as pafs

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
IPC_SUFFIXES = (".feather", ".arrow", ".ipc")
COLUMNAR_SUFFIXES = PARQUET_SUFFIXES + IPC_SUFFIXES
# Peak memory of analysing a batch over its size in Arrow memory (coerced float64 copies, sorted copies).
ARROW_MEMORY_FACTOR = 2
_MAGIC = {b"PAR1": "parquet", b"ARROW1": "ipc", b"FEA1": "ipc"}


def is_columnar_name(name: str) -> bool:
    return name.lower().endswith(COLUMNAR_SUFFIXES)


def _format_of_name(name: str) -> str | None:
    low = name.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(IPC_SUFFIXES):
        return "ipc"
    return None


def _hidden(relative: str) -> bool:
    # What Arrow's dataset discovery skips too: _SUCCESS, _metadata, .crc and staging files of writers.
    return any(part.startswith((".", "_")) for part in relative.split("/") if part)


@dataclass(frozen=True)
class TableSource:
    """A reference or batch in a columnar format: one file, or the data files of a dataset directory."""

    location: Location
    format: str  # parquet | ipc
    files: tuple[str, ...]  # paths inside the filesystem, sorted
    sizes: tuple[int, ...]  # bytes on storage, per file
    is_dataset: bool  # a directory (partition columns come from hive-style key=value directory names)

    @property
    def bytes(self) -> int:
        return sum(self.sizes)

    def fingerprint(self) -> str:
        """sha256 of a single local file's bytes; for a dataset or a remote file, of its listing (paths and
        sizes): reading a month of Parquet twice to name it would double the cost of a baseline."""
        if not self.is_dataset and self.location.is_local:
            h = hashlib.sha256()
            with open(self.files[0], "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            return h.hexdigest()
        listing = "\n".join(f"{f}\t{s}" for f, s in zip(self.files, self.sizes, strict=True))
        return hashlib.sha256(listing.encode()).hexdigest()


def is_table_location(text: str | Path) -> bool:
    """True when ``text`` names something this module reads: a URL, a columnar file, or a directory holding
    columnar files (a directory of images is a frame batch instead)."""
    if is_url(text):
        return True
    p = Path(text)
    if is_columnar_name(p.name):
        return True
    if p.is_dir():
        for _root, dirs, files in os.walk(p):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            if any(is_columnar_name(f) and not f.startswith((".", "_")) for f in files):
                return True
    return False


def _sniff(fs: pafs.FileSystem, path: str) -> str | None:
    try:
        with fs.open_input_stream(path) as fh:
            head = fh.read(6)
    except OSError:
        return None
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


def table_source(text: str | Path) -> TableSource:
    """List what ``text`` holds. Raises ``BatchReadError`` when it is missing, empty or of mixed formats."""
    import pyarrow.fs as pafs
    try:
        loc = resolve(text)
        info = loc.info()
    except MissingFilesystem:
        raise  # the monitor's setup, not this batch: the command fails (exit 3) rather than report the batch
    except LocationError as exc:
        raise BatchReadError(exc.reason) from exc
    if info.type == pafs.FileType.NotFound:
        raise BatchReadError("no such file or directory")
    if info.type == pafs.FileType.File:
        fmt = _format_of_name(loc.name) or _sniff(loc.filesystem, loc.path)
        if fmt is None:
            raise BatchReadError("neither Parquet nor Arrow IPC/Feather (by name and first bytes)")
        return TableSource(loc, fmt, (loc.path,), (int(info.size or 0),), False)
    try:
        found = loc.filesystem.get_file_info(pafs.FileSelector(loc.path, recursive=True))
    except Exception as exc:  # noqa: BLE001 (any filesystem package's error: see Location.info)
        raise BatchReadError(f"cannot list {loc.text}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
    base = loc.path.rstrip("/") + "/"
    files = sorted((f for f in found if f.type == pafs.FileType.File and not _hidden(f.path[len(base):])),
                   key=lambda f: f.path)
    formats = Counter(_format_of_name(f.path) for f in files)
    formats.pop(None, None)
    if not formats:
        raise BatchReadError("a directory with no Parquet or Arrow IPC/Feather files")
    if len(formats) > 1:
        raise BatchReadError("a dataset mixing Parquet and Arrow IPC files; keep one format")
    fmt = next(iter(formats))
    data = [f for f in files if _format_of_name(f.path) == fmt]
    return TableSource(loc, fmt, tuple(f.path for f in data), tuple(int(f.size or 0) for f in data), True)


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return shown(lines[0]) if lines else type(exc).__name__


def open_dataset(src: TableSource, schema: pa.Schema | None = None):
    """A ``pyarrow.dataset.Dataset`` over the source's files (hive partition columns included); ``schema``: the
    whole dataset's, when only some of its files are opened (a worker's share)."""
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat() if src.format == "parquet" else ds.IpcFileFormat()
    try:
        if src.is_dataset:
            return ds.dataset(list(src.files), filesystem=src.location.filesystem, format=fmt, schema=schema,
                              partitioning=ds.partitioning(flavor="hive"),
                              partition_base_dir=src.location.path.rstrip("/"))
        return ds.dataset(src.files[0], filesystem=src.location.filesystem, format=fmt, schema=schema)
    except Exception as exc:  # noqa: BLE001 (see read_columnar)
        raise BatchReadError(f"not readable as {_format_label(src)}: {_reason(exc)}") from exc


def _format_label(src: TableSource) -> str:
    return "Parquet" if src.format == "parquet" else "Arrow IPC/Feather"


def memory_estimate(dataset, src: TableSource) -> int:
    """Bytes the data takes once decoded: Parquet's row-group sizes from the footers (no data is read)."""
    if src.format != "parquet":
        return src.bytes
    total = 0
    try:
        for fragment in dataset.get_fragments():
            meta = fragment.metadata
            total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception as exc:  # noqa: BLE001 (see read_columnar)
        raise BatchReadError(f"not readable as Parquet: {_reason(exc)}") from exc
    return total


def normalise(table: pa.Table, string_columns: frozenset[str] = frozenset()) -> pa.Table:
    """Dictionary columns decoded; nested and binary columns as text (they are profiled as text); columns the
    baseline holds as categories or text cast to strings (an integer code 7 is the category "7")."""
    columns = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.cast(t.value_type), t.value_type
        if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            col = pa.chunked_array([pa.array([None if v is None else str(v) for v in col.to_pylist()],
                                             pa.string())])
        elif pa.types.is_large_string(t) or (name in string_columns and not pa.types.is_string(t)):
            col = col.cast(pa.string())
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _loaded(table: pa.Table, path: Path, size: int, string_columns: frozenset[str]) -> LoadedTable:
    names = table.column_names
    counts = Counter(names)
    duplicates = {n: c for n, c in counts.items() if c > 1}
    if duplicates:
        seen: set[str] = set()
        keep = [i for i, n in enumerate(names) if not (n in seen or seen.add(n))]
        table = table.select(keep)
    return LoadedTable(path=path, table=normalise(table, string_columns), header=list(names),
                       duplicates=duplicates, size_bytes=size)


def _read_local_file(path: Path, fmt: str, follow_symlinks: bool, max_memory: int | None) -> tuple[pa.Table, int]:
    fh = open_batch_file(path, follow_symlinks)
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise BatchReadError("file is empty (0 bytes)")
        label = "Parquet" if fmt == "parquet" else "Arrow IPC/Feather"
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(fh)
                meta = pf.metadata
                decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                _check_memory(decoded, max_memory)
                return pf.read(), size
            _check_memory(size, max_memory)
            return pa.ipc.open_file(fh).read_all(), size
        except BatchReadError:
            raise
        except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
            raise BatchReadError(f"not a readable {label} file: {_reason(exc)}") from exc


def _check_memory(decoded: int, max_memory: int | None) -> None:
    if max_memory is not None and decoded * ARROW_MEMORY_FACTOR > max_memory:
        raise TooLargeForMemory(f"{decoded / 1e6:.0f} MB of decoded columns need about "
                                f"{decoded * ARROW_MEMORY_FACTOR / 1e9:.1f} GB of memory, over the "
                                f"{max_memory / 1e9:.1f} GB limit for one batch (input.max_batch_memory_mb): "
                                "refused; check it on a cluster with --engine dask (watch: set [engine] scheduler "
                                "to hand such batches to it), or split the batch")


def read_columnar(text: str | Path, *, max_bytes: int | None = None, max_memory: int | None = None,
                  string_columns: frozenset[str] = frozenset(), follow_symlinks: bool = True) -> LoadedTable:
    """Read a whole columnar reference or batch into one table."""
    src = table_source(text)
    shown_path = Path(src.location.text)
    if max_bytes is not None and src.bytes > max_bytes:
        raise BatchReadError(f"{src.bytes / 1e6:.1f} MB on storage, over the {max_bytes / 1e6:.0f} MB size cap "
                             "(input.max_file_mb)")
    if not src.is_dataset and src.location.is_local:
        table, size = _read_local_file(Path(src.files[0]), src.format, follow_symlinks, max_memory)
        return _loaded(table, shown_path, size, string_columns)
    dataset = open_dataset(src)
    _check_memory(memory_estimate(dataset, src), max_memory)
    tables, parts = [], []
    for relpath, part in read_parts(src, dataset):
        tables.append(part)
        parts.append((relpath, part.num_rows))
    try:
        table = pa.concat_tables(tables) if tables else dataset.schema.empty_table()
    except pa.ArrowException as exc:
        raise BatchReadError(f"the files of this dataset do not share a schema: {_reason(exc)}") from exc
    loaded = _loaded(table, shown_path, src.bytes, string_columns)
    return LoadedTable(loaded.path, loaded.table, loaded.header, loaded.duplicates, loaded.size_bytes,
                       tuple(parts) if src.is_dataset else ())


def relative_part(src: TableSource, path: str) -> str:
    """A file's name inside its dataset ("" for a single file): what keys its rows."""
    if not src.is_dataset:
        return ""
    return path[len(src.location.path.rstrip("/")) + 1:]


def read_parts(src: TableSource, dataset=None, columns: list[str] | None = None):
    """(path inside the dataset, table) per file, in the source's order, partition columns included
    (``columns``: only those, read from the file alone where the format allows)."""
    dataset = open_dataset(src) if dataset is None else dataset
    by_path = {f.path: f for f in dataset.get_fragments()}
    for path in src.files:
        try:
            part = by_path[path].to_table(schema=dataset.schema, columns=columns)
        except Exception as exc:  # noqa: BLE001 (Arrow's errors, and any filesystem package's: see Location.info)
            raise BatchReadError(f"{relative_part(src, path) or src.location.name}: not readable as "
                                 f"{_format_label(src)} (files of one dataset must share a schema): "
                                 f"{_reason(exc)}") from exc
        yield relative_part(src, path), part


def read_one_file(text: str, path: str, fmt: str, is_dataset: bool, schema: pa.Schema,
                  columns: list[str] | None = None) -> pa.Table:
    """One file of a source, read where it runs (a cluster worker resolves the location itself, with its own
    credentials), with the whole dataset's schema; normalised like a whole read."""
    src = TableSource(resolve(text), fmt, (path,), (0,), is_dataset)
    return normalise(next(read_parts(src, open_dataset(src, schema), columns))[1])
