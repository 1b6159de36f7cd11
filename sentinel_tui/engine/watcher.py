"""The watchdog bridge: file-system events from the observer thread onto the asyncio loop.

watchdog handlers run on the observer thread; nothing here touches engine state from it. Each event is
handed over with ``loop.call_soon_threadsafe``, which never blocks the observer.

On Linux the inotify observer reports a file moved in from another directory as a move (not as a created
file), so a batch published by ``mv staging/b.csv W/`` is ready at once instead of after the quiet period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

_KINDS = {"created": "created", "modified": "modified", "closed": "closed", "moved": "moved",
          "deleted": "deleted"}


class _Handler(FileSystemEventHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop, on_event: Callable[[str, str, bool], None],
                 skip: Callable[[str], bool]):
        self._loop = loop
        self._on_event = on_event
        self._skip = skip

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory and event.event_type == "modified":
            return  # a directory's mtime changes with every file in it: the file events say more
        kind = _KINDS.get(event.event_type)
        if kind is None:  # opened, closed_no_write, attrib
            return
        if kind == "moved":
            # The source of a rename is gone; its destination is a complete file. An empty side is outside the
            # watched tree (moved in from, or out to, another directory).
            if event.src_path:
                self._send("deleted", os.fsdecode(event.src_path), event.is_directory)
            if event.dest_path:
                self._send("moved", os.fsdecode(event.dest_path), event.is_directory)
            return
        self._send(kind, os.fsdecode(event.src_path), event.is_directory)

    def _send(self, kind: str, path: str, is_dir: bool) -> None:
        if self._skip(path):  # the state directory's own writes: not worth a trip to the loop
            return
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._on_event, kind, path, is_dir)


def _observer(poll: bool, poll_interval: float):
    if poll:
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=poll_interval)
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux: the platform's observer (moves in from elsewhere look like creations)
        from watchdog.observers import Observer

        return Observer()
    return InotifyObserver(generate_full_events=True)


class DirectoryWatcher:
    """Watches the directory and, for frame batches, each directory one level down: never deeper, so no tree
    shape (thousands of levels, millions of entries below a batch) can exhaust the watcher. The source adds
    and removes the subdirectory watches as directories appear and go."""

    def __init__(self, directory: Path, loop: asyncio.AbstractEventLoop,
                 on_event: Callable[[str, str, bool], None], poll: bool = False, poll_interval: float = 0.5,
                 skip: Callable[[str], bool] = lambda path: False):
        self._observer = _observer(poll, poll_interval)
        # Only inotify reports close-after-write: elsewhere a written file is complete once quiet.
        self.reports_closes = type(self._observer).__name__ == "InotifyObserver"
        self._handler = _Handler(loop, on_event, skip)
        self._skip = skip
        self._directory = directory
        self._observer.schedule(self._handler, str(directory), recursive=False)
        self._subdirs: dict[str, object] = {}

    def start(self) -> None:
        self._observer.start()
        with contextlib.suppress(OSError), os.scandir(self._directory) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    self.watch_subdir(entry.path)

    def watch_subdir(self, path: str) -> None:
        """Watch the files of a (frame) directory one level down; a directory that vanished is no error."""
        if path in self._subdirs or self._skip(path):
            return
        with contextlib.suppress(OSError):
            self._subdirs[path] = self._observer.schedule(self._handler, path, recursive=False)

    def unwatch_subdir(self, path: str) -> None:
        watch = self._subdirs.pop(path, None)
        if watch is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watch)

    def alive(self) -> bool:
        """The observer thread and every emitter thread still run (an emitter dies alone, e.g. on an error in
        the inotify thread, and then no event arrives again while the observer looks alive)."""
        return self._observer.is_alive() and all(e.is_alive() for e in list(self._observer.emitters))

    def failure(self) -> str | None:
        if not self._observer.is_alive():
            return "observer thread ended"
        dead = [e for e in list(self._observer.emitters) if not e.is_alive()]
        return f"{len(dead)} event thread(s) ended" if dead else None

    def stop(self) -> None:
        self._observer.stop()
        with contextlib.suppress(RuntimeError):  # never started
            self._observer.join(timeout=5)
