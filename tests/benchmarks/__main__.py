"""`make bench`: run every benchmark and print one table. Exit 1 if a target is missed."""

from __future__ import annotations

import os
import sys

from . import (
    bench_allocator,
    bench_check,
    bench_dask,
    bench_detection,
    bench_frame_detection,
    bench_frames,
    bench_integrations,
    bench_memory,
    bench_perf,
    bench_tui,
    bench_watch,
)


def main() -> int:
    rows = []
    only = set(sys.argv[1:])
    for module in (bench_check, bench_watch, bench_tui, bench_perf, bench_frames, bench_integrations, bench_memory,
                   bench_allocator, bench_detection, bench_frame_detection, bench_dask):
        if only and module.__name__.rsplit(".", 1)[-1] not in only:
            continue
        rows.extend(module.run())
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>9}  note (values are seconds unless the name gives another unit)")
    print("-" * (width + 40))
    for name, seconds, note, ok in rows:
        print(f"{name:<{width}}  {seconds:>9.3f}  {note}{'' if ok else '  <-- MISSED'}")
    print(f"\n{os.cpu_count()} cores; figures are the best of several runs")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
