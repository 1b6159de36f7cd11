"""When is a file in the watched directory a complete batch? A pure component: no threads, no clock.

A batch is ready when its writer closed it (inotify's close-after-write), when it was moved or renamed
into the directory (the atomic-rename pattern producers should use), or, where neither event exists
(polling, other platforms, writers that keep a file open), when its size and mtime have not changed for
the quiet period. Hidden and temporary files and the state directory are never batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")
BATCH_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".npy", ".npz",
                  ".parquet", ".pq", ".parq", ".feather", ".arrow", ".ipc")


def batch_of(path: str, root: Path) -> tuple[str, bool] | None:
    """The batch an event path belongs to, and whether it lies inside a frame directory: a file directly in
    ``root`` is its own batch; a file one level down belongs to the frame directory that holds it."""
    p = Path(path)
    try:
        rel = p.relative_to(root)
    except ValueError:
        return None
    if len(rel.parts) == 1:
        return path, False
    if len(rel.parts) == 2:
        return str(root / rel.parts[0]), True
    return None


def is_batch_candidate(path: Path, root: Path, state_dir: Path | None = None, is_dir: bool = False) -> bool:
    path = Path(path)
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if state_dir is not None:
        try:
            path.relative_to(state_dir)
            return False
        except ValueError:
            pass
    if any(part.startswith(".") for part in rel.parts):
        return False
    if is_dir:
        return len(rel.parts) == 1  # a frame directory: one level below the watched directory
    name = path.name.lower()
    if name.endswith(TEMP_SUFFIXES):
        return False
    return name.endswith(BATCH_SUFFIXES)


@dataclass
class _Pending:
    order: int
    ready_now: bool = False
    size: int = -1
    mtime: float = -1.0
    stable_since: float = 0.0
    written_at: float | None = None  # a write event was seen and no close after it: a writer holds it open


# (size, mtime) of a file, or None when it no longer exists
StatFn = Callable[[str], tuple[int, float] | None]


class ReadinessTracker:
    """``max_open_wait``: how long a file written in place is waited for while its writer keeps it open (only
    where close events exist); after that the quiet period decides, so a writer that never closes cannot hide
    a batch for ever."""

    def __init__(self, quiet_period: float = 1.0, max_open_wait: float = 300.0):
        self.quiet_period = quiet_period
        self.max_open_wait = max_open_wait
        self._pending: dict[str, _Pending] = {}
        self._counter = 0
        self.held_open = 0  # polls that held a file quiet past the quiet period because its writer has it open

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, path: str) -> bool:
        return path in self._pending

    def observe(self, path: str, kind: str, now: float) -> None:
        """Record one file-system event: created, modified, written (a write seen by an observer that also
        reports closes: the file is complete only when closed), closed, moved (to ``path``) or deleted."""
        if kind == "deleted":
            self._pending.pop(path, None)
            return
        p = self._pending.get(path)
        if p is None:
            self._counter += 1
            p = self._pending[path] = _Pending(order=self._counter, stable_since=now)
        if kind in ("closed", "moved"):
            p.ready_now = True
            p.written_at = None
        else:
            # A new write restarts the quiet period; a close seen before it no longer means "complete".
            p.ready_now = False
            p.stable_since = now
            if kind == "written" and p.written_at is None:
                p.written_at = now

    def poll(self, now: float, stat: StatFn) -> list[str]:
        """Files that became ready, in arrival order; they are forgotten once returned."""
        ready: list[str] = []
        for path, p in sorted(self._pending.items(), key=lambda kv: kv[1].order):
            st = stat(path)
            if st is None:
                del self._pending[path]
                continue
            if p.ready_now:
                ready.append(path)
                continue
            if st != (p.size, p.mtime):
                p.size, p.mtime = st
                p.stable_since = now
            elif p.written_at is not None and now - p.written_at < self.max_open_wait:
                # written in place and not closed yet: a pause of the writer is not the end
                self.held_open += now - p.stable_since >= self.quiet_period
                continue
            elif now - p.stable_since >= self.quiet_period:
                ready.append(path)
        for path in ready:
            del self._pending[path]
        return ready
