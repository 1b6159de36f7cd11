"""Process-level tuning for the analysis hot path: glibc's malloc thresholds.

Why: the drift tests make NumPy temporaries of one batch column each (800 KB for 100,000 rows of float64).
By default glibc serves large blocks (from 128 KB; it raises that threshold itself as such blocks are freed,
up to 32 MB) with a fresh ``mmap`` given back on free, and trims the top of its heap as soon as a little
more is free (128 KB, later twice the mmap threshold). Either way the memory of each temporary goes back to
the kernel and the next one is faulted in page by page again; measured, that doubles the cost of a drift
test on a 100,000-row batch (22 ms -> 12 ms per feature with the setting).

What it changes: ``mallopt(M_MMAP_THRESHOLD, 64 MB)`` and ``mallopt(M_TRIM_THRESHOLD, 256 MB)``. Blocks under
64 MB come from the heap and freed memory is kept for reuse until 256 MB of it are free at the top: the
resident set may stay up to that much above what is in use after a peak (one batch's working set is bounded,
so it does not grow batch after batch), and glibc's own adjustment of the mmap threshold stops.

It is process-wide and for the rest of the process: every allocation through glibc's malloc, in any thread,
by any library (NumPy, SciPy, SQLite, Python objects above 512 bytes; not pyarrow's buffers, which come from
its own memory pool). So only the commands that own their process call it (``sentinel check``, ``watch``
and ``serve``); importing ``sentinel_tui`` as a library never does. Linux with glibc only; elsewhere it does
nothing.

``SENTINEL_NO_MALLOC_TUNING=1`` in the environment skips it (glibc's defaults stay, or whatever
``GLIBC_TUNABLES`` / ``MALLOC_MMAP_THRESHOLD_`` set): what ``make bench`` uses to measure what it is worth.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False
DISABLE_ENV = "SENTINEL_NO_MALLOC_TUNING"


def tune_allocator(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Keep glibc from returning every large NumPy temporary to the kernel (see the module's docstring: it is
    process-wide). True once the thresholds are set; False where they are not (not glibc, or
    SENTINEL_NO_MALLOC_TUNING=1)."""
    global _done
    if _done or not sys.platform.startswith("linux") or os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok
