"""Turn a parsed column into the logical type the baseline expects, counting what does not fit.

numeric  -> float64 array, NaN for nulls (infinities kept: validation reports them)
boolean  -> float64 array of 0/1, NaN for nulls
datetime -> float64 seconds since the epoch, NaN for nulls
categorical / text -> pyarrow string array (nulls kept)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0"})
LOGICAL_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")


@dataclass(frozen=True)
class Coerced:
    logical_type: str
    values: np.ndarray | pa.Array
    rows: int
    nulls: int  # missing in the file (empty cells)
    unparseable: int  # present but not of the expected type (become missing in ``values``)
    bad_examples: list[str] = field(default_factory=list)

    # Derived once and shared by validation and drift (both need them; they are the costly parts).
    @cached_property
    def finite_sorted(self) -> np.ndarray:
        """Finite numeric values, sorted."""
        v = self.values
        finite = np.isfinite(v)
        return np.sort(v if finite.all() else v[finite])

    def sorted_only(self) -> Coerced:
        """The same column keeping only its finite values, sorted (row order dropped), without a second copy:
        for a numeric feature whose row order nothing needs (no performance tracking)."""
        values = self.finite_sorted
        out = replace(self, values=values)
        out.__dict__["finite_sorted"] = values  # the cached_property's slot: not sorted a second time
        return out

    @cached_property
    def category_counts(self) -> dict[str, int]:
        """Non-null category -> rows, for categorical and text columns."""
        vc = pc.value_counts(self.values.drop_null())
        return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))


def _combine(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _as_float(arr: pa.Array) -> np.ndarray:
    out = pc.cast(arr, pa.float64(), safe=False)
    return out.to_numpy(zero_copy_only=False)  # nulls become NaN


def _examples(strings: pa.Array, bad_mask: np.ndarray, k: int = 3) -> list[str]:
    idx = np.flatnonzero(bad_mask)[:k]
    return [str(strings[int(i)].as_py()) for i in idx]


def _strings_to_float(arr: pa.Array) -> tuple[np.ndarray, int, int, list[str]]:
    """(values, missing cells, unparseable cells, examples of unparseable ones)"""
    trimmed = pc.utf8_trim_whitespace(arr)
    # pyarrow's cast fails on the first bad value; parse what parses, count the rest.
    text = trimmed.to_numpy(zero_copy_only=False)
    present = np.array([v is not None and v != "" for v in text], dtype=bool)
    out = np.full(len(text), np.nan)
    bad = np.zeros(len(text), dtype=bool)
    for i in np.flatnonzero(present):
        try:
            out[i] = float(text[i])
        except ValueError:
            bad[i] = True
    return out, int((~present).sum()), int(bad.sum()), _examples(arr, bad)


def coerce(col: pa.ChunkedArray | pa.Array, logical_type: str) -> Coerced:
    arr = _combine(col)
    rows = len(arr)
    nulls = arr.null_count
    t = arr.type
    if logical_type in ("categorical", "text"):
        if pa.types.is_dictionary(t):
            arr = arr.dictionary_decode()
        # The reader already made empty cells null (strings_can_be_null), as it did for the reference.
        values = arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
        return Coerced(logical_type, values, rows, values.null_count, 0)
    if logical_type == "numeric":
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
            return Coerced(logical_type, _as_float(arr), rows, nulls, 0)
        if pa.types.is_null(t):
            return Coerced(logical_type, np.full(rows, np.nan), rows, rows, 0)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            values, missing, bad, examples = _strings_to_float(arr)
            return Coerced(logical_type, values, rows, missing, bad, examples)
        return Coerced(logical_type, np.full(rows, np.nan), rows, nulls, rows - nulls,
                       [f"<{t}>"])
    if logical_type == "boolean":
        if pa.types.is_boolean(t):
            return Coerced(logical_type, _as_float(arr), rows, nulls, 0)
        if pa.types.is_null(t):
            return Coerced(logical_type, np.full(rows, np.nan), rows, rows, 0)
        text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))).to_numpy(zero_copy_only=False)
        out = np.full(rows, np.nan)
        bad = np.zeros(rows, dtype=bool)
        for i, v in enumerate(text):
            if v is None or v == "":
                continue
            if v in TRUE_STRINGS:
                out[i] = 1.0
            elif v in FALSE_STRINGS:
                out[i] = 0.0
            else:
                bad[i] = True
        n_bad = int(bad.sum())
        return Coerced(logical_type, out, rows, rows - n_bad - int((~np.isnan(out)).sum()), n_bad,
                       _examples(arr, bad))
    if logical_type == "datetime":
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            secs = pc.cast(pc.cast(arr, pa.timestamp("us")), pa.int64())
            return Coerced(logical_type, _as_float(secs) / 1e6, rows, nulls, 0)
        if pa.types.is_null(t):
            return Coerced(logical_type, np.full(rows, np.nan), rows, rows, 0)
        import pandas as pd  # only for the rare non-ISO path

        strings = pc.cast(arr, pa.string()).to_pandas()
        parsed = pd.to_datetime(strings, errors="coerce", utc=True, format="mixed")
        present = strings.notna() & (strings.str.strip() != "")
        bad = (present & parsed.isna()).to_numpy()
        secs = (parsed.astype("int64") / 1e9).where(parsed.notna()).to_numpy(dtype=np.float64)
        return Coerced(logical_type, secs, rows, int((~present).sum()), int(bad.sum()), _examples(arr, bad))
    raise ValueError(f"unknown logical type {logical_type!r}")
