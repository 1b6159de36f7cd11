"""Read one CSV batch with pyarrow, turning every way a file can be bad into a ``BatchReadError`` with a reason.

The file is opened read-only and never modified. Column names are taken from the header ourselves so
duplicate names are reported instead of silently renamed by the parser.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

_SNIFF_BYTES = 64 * 1024
_OTHER_DELIMITERS = (";", "\t", "|")


class BatchReadError(Exception):
    """The file cannot be analysed; ``reason`` is one human sentence naming the problem."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LoadedTable:
    path: Path
    table: pa.Table  # duplicate columns (after the first) are dropped from it
    header: list[str]  # as written in the file, duplicates included
    duplicates: dict[str, int] = field(default_factory=dict)  # name -> times it appears (>1)
    size_bytes: int = 0


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


def read_csv_batch(path: Path, delimiter: str = ",", max_bytes: int | None = None,
                   string_columns: frozenset[str] = frozenset()) -> LoadedTable:
    """Parse ``path``; ``string_columns`` are read as text whatever they look like (categories, ids)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BatchReadError(f"cannot open: {exc.strerror or exc}") from exc
    if max_bytes is not None and size > max_bytes:
        raise BatchReadError(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB size cap "
                             "(input.max_file_mb)")
    if size == 0:
        raise BatchReadError("file is empty (0 bytes)")
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise BatchReadError(f"cannot read: {exc.strerror or exc}") from exc
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
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=unique_names, skip_rows=1,
                                           block_size=_block_size(size)),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=column_types,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise BatchReadError(_explain_arrow_error(str(exc), len(names))) from exc
    except (OSError, pa.ArrowException) as exc:
        raise BatchReadError(f"cannot parse: {exc}") from exc
    keep = [n for n in unique_names if "\x00dup" not in n]
    if len(keep) != len(unique_names):
        table = table.select(keep)
    return LoadedTable(path=path, table=table, header=names, duplicates=duplicates, size_bytes=size)


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
