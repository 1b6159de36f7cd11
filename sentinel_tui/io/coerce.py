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

try:
    # pyarrow.compute wraps each of Arrow's ~300 kernels in a documented Python function when imported (25 ms
    # of a 0.35 s ``sentinel check``); these few are called through the function it re-exports from here.
    from pyarrow._compute import CastOptions, call_function
except ImportError:  # pragma: no cover (a pyarrow that moved them)
    from pyarrow.compute import CastOptions, call_function

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
        return _finite_sorted(self.values, self.nulls + self.unparseable == 0)

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
        return _category_counts(self.values)

    # What the checks ask of a numeric or boolean column, answered here from the sorted values. The Dask engine's
    # merged column summary (checks/batch_summary.py) answers the same questions from partition counts, so the
    # checks run unchanged on either.
    def finite_count(self) -> int:
        if "finite_sorted" in self.__dict__:
            return int(self.finite_sorted.size)
        return int(np.isfinite(self.values).sum())

    def infinite_count(self) -> int:
        v = self.values
        return 0 if self.finite_sorted.size == v.size else int(np.isinf(v).sum())  # a pass saved when all finite

    def finite_range(self) -> tuple[float, float]:
        x = self.finite_sorted
        return float(x[0]), float(x[-1])

    def finite_mean(self) -> float:
        return float(self.finite_sorted.mean())

    def finite_std(self) -> float:
        return float(self.finite_sorted.std(ddof=1))

    def true_count(self) -> int:
        v = self.values
        return int(v[~np.isnan(v)].sum())

    def count_outside(self, lo: float, hi: float) -> int:
        x = self.finite_sorted
        return int(np.searchsorted(x, lo, side="left") + x.size - np.searchsorted(x, hi, side="right"))

    def clipped_sum(self, lo: float, hi: float) -> float:
        """Sum of the finite values clipped to [lo, hi]; from two searches and one sum of the middle."""
        x = self.finite_sorted
        a, b = np.searchsorted(x, lo, side="left"), np.searchsorted(x, hi, side="right")
        return a * lo + float(x[a:b].sum()) + (x.size - b) * hi

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        from sentinel_tui.stats.univariate import histogram_counts

        return histogram_counts(self.finite_sorted, edges)

    def distinct_values(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct finite values, sorted, and how many times each occurs."""
        v = self.finite_sorted
        starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1]))) if v.size else np.zeros(0, int)
        return v[starts], np.diff(np.append(starts, v.size))

    def compare(self, ref):
        """KS and Wasserstein-1 against a ``SortedReference``."""
        from sentinel_tui.stats.univariate import compare_numeric

        return compare_numeric(ref, self.finite_sorted)

    def derive(self, sort: bool, count: bool) -> Coerced:
        """Compute ``finite_sorted`` and/or ``category_counts`` now, for a worker thread. Straight into the
        properties' slots: Python 3.11's cached_property holds one lock for all instances of a class, so
        threads deriving different columns through it would wait for each other."""
        slots = self.__dict__
        if sort and "finite_sorted" not in slots:
            slots["finite_sorted"] = _finite_sorted(self.values, self.nulls + self.unparseable == 0)
        if count and "category_counts" not in slots:
            slots["category_counts"] = _category_counts(self.values)
        return self


def _finite_sorted(v: np.ndarray, probably_finite: bool = False) -> np.ndarray:
    """The finite values, sorted. When all are probably finite (no missing cells), sorted first and checked at
    both ends (NaN sorts last, infinities at the ends): a pass over the column saved."""
    if probably_finite and v.size:
        ordered = np.sort(v)
        if np.isfinite(ordered[0]) and np.isfinite(ordered[-1]):
            return ordered
    finite = np.isfinite(v)
    return np.sort(v if finite.all() else v[finite])


def _cast(arr: pa.Array, target: pa.DataType, safe: bool = True) -> pa.Array:
    """``pyarrow.compute.cast``."""
    return call_function("cast", [arr], CastOptions.safe(target) if safe else CastOptions.unsafe(target))


def _category_counts(values: pa.Array) -> dict[str, int]:
    vc = call_function("value_counts", [call_function("drop_null", [values])])
    return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))


def _combine(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def float64_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric Arrow array as float64 NumPy, nulls as NaN.

    Read from the Arrow buffers, because ``Array.to_numpy`` imports pandas (0.3 s of a 0.4 s ``sentinel check``).
    Without nulls the result is a read-only view of the Arrow memory (as ``to_numpy`` gives); with nulls a new
    array."""
    arr = _combine(arr)
    if arr.type != pa.float64():
        arr = _cast(arr, pa.float64(), safe=False)
    n, offset = len(arr), arr.offset
    validity, data = arr.buffers()
    if n == 0 or data is None:
        return np.full(n, np.nan)
    values = np.frombuffer(data, dtype=np.float64, count=offset + n)[offset:]
    if arr.null_count:
        bits = np.frombuffer(validity, dtype=np.uint8)
        valid = np.unpackbits(bits, count=offset + n, bitorder="little")[offset:].view(bool)
        return np.where(valid, values, np.nan)
    values.flags.writeable = False
    return values


def _as_float(arr: pa.Array) -> np.ndarray:
    return float64_numpy(arr)  # nulls become NaN


def _examples(strings: pa.Array, bad_mask: np.ndarray, k: int = 3) -> list[str]:
    idx = np.flatnonzero(bad_mask)[:k]
    return [str(strings[int(i)].as_py()) for i in idx]


def _strings_to_float(arr: pa.Array) -> tuple[np.ndarray, int, int, list[str]]:
    """(values, missing cells, unparseable cells, examples of unparseable ones)"""
    trimmed = call_function("utf8_trim_whitespace", [arr])
    # pyarrow's cast fails on the first bad value; parse what parses, count the rest.
    text = trimmed.to_pylist()
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
        values = arr if pa.types.is_string(arr.type) else _cast(arr, pa.string())
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
        text = call_function("utf8_lower", [call_function("utf8_trim_whitespace", [_cast(arr, pa.string())])]
                             ).to_pylist()
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
            secs = _cast(_cast(arr, pa.timestamp("us")), pa.int64())
            return Coerced(logical_type, _as_float(secs) / 1e6, rows, nulls, 0)
        if pa.types.is_null(t):
            return Coerced(logical_type, np.full(rows, np.nan), rows, rows, 0)
        import pandas as pd  # only for the rare non-ISO path

        strings = _cast(arr, pa.string()).to_pandas()
        parsed = pd.to_datetime(strings, errors="coerce", utc=True, format="mixed")
        present = strings.notna() & (strings.str.strip() != "")
        bad = (present & parsed.isna()).to_numpy()
        secs = (parsed.astype("int64") / 1e9).where(parsed.notna()).to_numpy(dtype=np.float64)
        return Coerced(logical_type, secs, rows, int((~present).sum()), int(bad.sum()), _examples(arr, bad))
    raise ValueError(f"unknown logical type {logical_type!r}")
