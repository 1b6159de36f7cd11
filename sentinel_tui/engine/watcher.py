"""The watchdog bridge: file-system events from the observer thread onto the asyncio loop.

watchdog handlers run on the observer thread; nothing here touches engine state from it. Each event is
handed over with ``loop.call_soon_threadsafe``, which never blocks the observer.
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
        if kind is None:  # opened, closed_no_write
            return
        if kind == "moved":
            # The source of a rename is gone; its destination is a complete file.
            self._send("deleted", os.fsdecode(event.src_path), event.is_directory)
            path = os.fsdecode(event.dest_path)
        else:
            path = os.fsdecode(event.src_path)
        self._send(kind, path, event.is_directory)

    def _send(self, kind: str, path: str, is_dir: bool) -> None:
        if self._skip(path):  # the state directory's own writes: not worth a trip to the loop
            return
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._on_event, kind, path, is_dir)


class DirectoryWatcher:
    """Watches the directory and, for frame batches, the directories one level down (recursive)."""

    def __init__(self, directory: Path, loop: asyncio.AbstractEventLoop,
                 on_event: Callable[[str, str, bool], None], poll: bool = False, poll_interval: float = 0.5,
                 skip: Callable[[str], bool] = lambda path: False):
        if poll:
            from watchdog.observers.polling import PollingObserver

            self._observer = PollingObserver(timeout=poll_interval)
        else:
            from watchdog.observers import Observer

            self._observer = Observer()
        self._observer.schedule(_Handler(loop, on_event, skip), str(directory), recursive=True)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
