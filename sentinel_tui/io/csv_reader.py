"""Read one CSV batch with pyarrow, turning every way a file can be bad into a ``BatchReadError`` with a reason.

The file is opened read-only and never modified. Column names are taken from the header ourselves so
duplicate names are reported instead of silently renamed by the parser.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from sentinel_tui.io.entries import NotRegular, open_regular

_SNIFF_BYTES = 64 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")


class BatchReadError(Exception):
    """The file cannot be analysed; ``reason`` is one human sentence naming the problem."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TooLargeForMemory(BatchReadError):
    """The batch would not fit the memory budget of one batch (a cluster may take it: ``[engine] scheduler``)."""


@dataclass(frozen=True)
class LoadedTable:
    path: Path
    table: pa.Table  # duplicate columns (after the first) are dropped from it
    header: list[str]  # as written in the file, duplicates included
    duplicates: dict[str, int] = field(default_factory=dict)  # name -> times it appears (>1)
    size_bytes: int = 0
    # The files the rows came from, in order: (path inside the dataset, rows); () for one file. A reference
    # sample is keyed by (file, row in file), so it is the same whichever engine reads the files.
    parts: tuple[tuple[str, int], ...] = ()


def _header_names(head: bytes, delimiter: str) -> list[str]:
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary is not an encoding error.
        if exc.start < len(head) - 4:
            raise BatchReadError(f"not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}); "
                                 "re-encode the file as UTF-8") from exc
        text = head[: exc.start].decode("utf-8-sig")
    first = text.splitlines()[0] if text.splitlines() else ""
    if not first.strip():
        raise BatchReadError("no header line (the first line is empty)")
    return next(csv.reader(io.StringIO(first), delimiter=delimiter))


COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
_MAX_HEADER = 64 << 20  # a header line longer than this is not a CSV header


def compression_of(path: Path) -> str | None:
    return COMPRESSION.get(Path(path).suffix.lower())


def _decompress(fh, codec: str, limit: int | None, size: int) -> bytes:
    """The whole decompressed file, refused as soon as it grows past ``limit`` (a compression bomb is never
    inflated in memory)."""
    import bz2
    import gzip
    import lzma
    import zlib

    openers = {"zstd": lambda: pa.CompressedInputStream(pa.PythonFile(fh, mode="r"), "zstd"),
               "gzip": lambda: gzip.GzipFile(fileobj=fh), "bz2": lambda: bz2.BZ2File(fh),
               "xz": lambda: lzma.LZMAFile(fh)}  # noqa: SIM115 (opened in the with below)
    parts, total = [], 0
    try:
        with openers[codec]() as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if limit is not None and total > limit:
                    raise BatchReadError(f"{codec} file of {size / 1e6:.1f} MB inflates past the {limit / 1e6:.0f} "
                                         "MB size cap (input.max_file_mb): refused without inflating it further")
                parts.append(chunk)
    except BatchReadError:
        raise
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error, pa.ArrowException) as exc:
        raise BatchReadError(f"corrupt {codec} data: {exc}") from exc
    return b"".join(parts)


def _head(fh, size: int) -> bytes:
    """The first 64 KiB, or up to the end of the header line if that is longer (headers of 20,000 columns)."""
    head = fh.read(_SNIFF_BYTES)
    while b"\n" not in head and len(head) < min(size, _MAX_HEADER):
        more = fh.read(1 << 20)
        if not more:
            break
        head += more
    return head


STREAM_ABOVE = 256_000_000  # bytes of CSV above which it is parsed block by block (memory over speed)
MEMORY_FACTOR = 3  # peak memory of reading and analysing a CSV over its size (measured 2.1-2.9 for numbers)


def open_batch_file(path: Path, follow_symlinks: bool = True):
    """A batch file opened read-only, only if it is a regular file (and not a symbolic link unless followed)."""
    try:
        return open_regular(path, follow_symlinks=follow_symlinks)
    except NotRegular as exc:
        raise BatchReadError(f"a {exc.kind}, not a regular file: not read") from exc
    except OSError as exc:
        raise BatchReadError(f"cannot open: {exc.strerror or exc}") from exc


def read_csv_batch(path: Path, delimiter: str = ",", max_bytes: int | None = None,
                   string_columns: frozenset[str] = frozenset(), follow_symlinks: bool = True,
                   max_memory: int | None = None) -> LoadedTable:
    """Parse ``path`` (plain, or compressed as .gz, .bz2, .xz, .zst); ``string_columns`` are read as text
    whatever they look like (categories, ids). Only a regular file is opened; with ``follow_symlinks`` False a
    symbolic link is refused too."""
    path = Path(path)
    fh = open_batch_file(path, follow_symlinks)
    with fh:
        size = os.fstat(fh.fileno()).st_size
        codec = compression_of(path)
        if codec is None and max_bytes is not None and size > max_bytes:
            raise BatchReadError(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB size cap "
                                 "(input.max_file_mb)")
        if size == 0:
            raise BatchReadError("file is empty (0 bytes)")
        try:
            if codec is not None:
                data = _decompress(fh, codec, max_bytes, size)
                if not data:
                    raise BatchReadError(f"file is empty ({codec} data of 0 bytes)")
                head, length = data[:max(_SNIFF_BYTES, data.find(b"\n") + 1)], len(data)

                def source():
                    return pa.BufferReader(data)
            else:
                head = _head(fh, size)
                # The descriptor already checked, never the name again (it could be swapped meanwhile).
                fd_path = f"/proc/self/fd/{fh.fileno()}" if os.path.isdir("/proc/self/fd") else str(path)
                length = size

                def source():
                    return fd_path
        except OSError as exc:
            raise BatchReadError(f"cannot read: {exc.strerror or exc}") from exc
        if max_memory is not None and length * MEMORY_FACTOR > max_memory:
            raise TooLargeForMemory(f"{length / 1e6:.0f} MB of CSV needs about {length * MEMORY_FACTOR / 1e9:.1f} "
                                    f"GB of memory, over the {max_memory / 1e9:.1f} GB limit for one batch "
                                    "(input.max_batch_memory_mb): refused; split the batch, or write it as "
                                    "Parquet for the dask engine (--engine dask, [engine] scheduler)")
        return _parse(path, source, head, length, delimiter, string_columns)


def _parse(path: Path, source: Callable[[], object], head: bytes, size: int, delimiter: str,
           string_columns: frozenset[str]) -> LoadedTable:
    if b"\x00" in head:
        raise BatchReadError("binary data (NUL bytes), not a CSV text file")
    names = _header_names(head, delimiter)
    if len(names) == 1 and names[0]:
        for other in _OTHER_DELIMITERS:
            if other in names[0]:
                raise BatchReadError(f"one column only and the header contains {other!r}: wrong delimiter? "
                                     f"(expected {delimiter!r}; set input.delimiter)")
    counts = Counter(names)
    duplicates = {n: c for n, c in counts.items() if c > 1}
    unique_names: list[str] = []
    seen: Counter[str] = Counter()
    for n in names:
        seen[n] += 1
        unique_names.append(n if seen[n] == 1 else f"{n}\x00dup{seen[n]}")
    column_types = {n: pa.string() for n in unique_names if n in string_columns}
    header_bytes = head.find(b"\n") + 1 or len(head)
    bad_rows: list = []

    def invalid(row) -> str:  # called by the parser for a row with the wrong number of fields
        bad_rows.append(row)
        return "error"

    def read(threads: bool) -> pa.Table:
        options = {
            "read_options": pacsv.ReadOptions(column_names=unique_names, skip_rows=1, use_threads=threads,
                                              block_size=max(_block_size(size), 4 * header_bytes)),
            "parse_options": pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False,
                                                invalid_row_handler=invalid),
            "convert_options": pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True,
                                                    quoted_strings_can_be_null=False),
        }
        if size > STREAM_ABOVE:
            # Block by block: the whole-file reader holds the text and the columns at once (measured on 500 MB
            # of numbers: 1.34 GB peak against 0.67 GB streamed, for 1.7x the parse time).
            with pacsv.open_csv(source(), **options) as reader:
                return pa.Table.from_batches(list(reader), schema=reader.schema)
        return pacsv.read_csv(source(), **options)

    try:
        table = read(threads=True)
    except pa.ArrowInvalid as exc:
        if bad_rows and bad_rows[0].number is None:
            # Parallel parsing does not know line numbers: read once more in order to name the line.
            bad_rows.clear()
            with contextlib.suppress(pa.ArrowException):
                read(threads=False)
        if bad_rows:
            raise BatchReadError(_explain_row(bad_rows[0], delimiter)) from exc
        raise BatchReadError(_explain_arrow_error(str(exc), len(names))) from exc
    except (OSError, pa.ArrowException) as exc:
        raise BatchReadError(f"cannot parse: {exc}") from exc
    keep = [n for n in unique_names if "\x00dup" not in n]
    if len(keep) != len(unique_names):
        table = table.select(keep)
    _check_quotes(table)
    return LoadedTable(path=path, table=table, header=names, duplicates=duplicates, size_bytes=size)


def _check_quotes(table: pa.Table) -> None:
    """A quote that is never closed makes the parser swallow every following line into one value: thousands
    of rows would vanish silently. No value of a batch read with ``newlines_in_values=False`` can hold a line
    break otherwise, so one that does is this malformation."""
    for name in table.column_names:
        col = table.column(name)
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            continue
        if not any(_holds_line_break(chunk) for chunk in col.chunks):
            continue  # the common case, decided by one scan of the text bytes
        import pyarrow.compute as pc  # only here: importing it costs 25 ms

        has_break = pc.match_substring(col, "\n")
        if not pc.any(has_break).as_py():
            continue
        row = pc.index(has_break, True).as_py()
        value = col[row].as_py()
        swallowed = value.count("\n")
        line = row + 2 + int(pc.sum(pc.count_substring(col.slice(0, row), "\n")).as_py() or 0)
        raise BatchReadError(f"malformed CSV: a quote opened in column {clean_name(name)} on line {line} is never "
                             f"closed, so the parser swallowed the next {swallowed} lines into one value "
                             f"({swallowed} rows affected); fix the quoting")


def _holds_line_break(chunk: pa.Array) -> bool:
    """Whether the text bytes behind a string array contain a line break (a byte scan, no per-value work; a
    sliced array is scanned whole, which can only answer yes too often)."""
    data = chunk.buffers()[2]
    return data is not None and data.size > 0 and bool((np.frombuffer(data, dtype=np.uint8) == 10).any())


def _explain_row(row, delimiter: str) -> str:
    """One sentence for the first row with the wrong number of fields, with its line number."""
    line = f"line {row.number}" if row.number is not None else "a row"  # counted from the header, line 1
    text = row.text or ""
    if text.count('"') % 2:
        return (f"malformed CSV: an unbalanced quote on {line} ({row.actual_columns} fields where the header has "
                f"{row.expected_columns}); that row and every row after it are not read; fix the quoting")
    hint = "truncated or cut short?" if row.actual_columns < row.expected_columns else \
        f"an unquoted {delimiter!r} in a value?"
    return (f"malformed CSV: {line} has {row.actual_columns} fields but the header has {row.expected_columns} "
            f"({hint}); the file is not read")


def clean_name(name: str) -> str:
    return repr(name.split("\x00dup")[0])


def _block_size(size: int) -> int:
    """pyarrow's 1 MB default splits a 90 MB file into 90 chunks per column, which costs more to combine
    than it gains in parallel parsing on a few cores; about six blocks per file parse fastest (measured)."""
    return int(min(max(size // 6, 1 << 20), 16 << 20))


_ROW_MISMATCH = re.compile(r"Expected (\d+) columns, got (\d+)")


def _explain_arrow_error(message: str, header_fields: int) -> str:
    first_line = message.strip().splitlines()[0] if message.strip() else message
    if "invalid UTF8" in message or "UTF8" in message:
        return "not UTF-8 text; re-encode the file as UTF-8"
    m = _ROW_MISMATCH.search(message)
    if m:
        got = int(m.group(2))
        hint = "truncated or cut short?" if got < header_fields else "unquoted delimiter in a value?"
        return f"malformed CSV: a row has {got} fields but the header has {header_fields} ({hint})"
    if "Empty CSV file" in message:
        return "file has no rows and no header"
    return f"malformed CSV: {first_line}"
