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
    def __init__(self, loop: asyncio.AbstractEventLoop, on_event: Callable[[str, str], None]):
        self._loop = loop
        self._on_event = on_event

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        kind = _KINDS.get(event.event_type)
        if kind is None:  # opened, closed_no_write
            return
        if kind == "moved":
            # The source of a rename is gone; its destination is a complete file.
            self._send("deleted", os.fsdecode(event.src_path))
            path = os.fsdecode(event.dest_path)
        else:
            path = os.fsdecode(event.src_path)
        self._send(kind, path)

    def _send(self, kind: str, path: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._on_event, kind, path)


class DirectoryWatcher:
    def __init__(self, directory: Path, loop: asyncio.AbstractEventLoop, on_event: Callable[[str, str], None],
                 poll: bool = False, poll_interval: float = 0.5):
        if poll:
            from watchdog.observers.polling import PollingObserver

            self._observer = PollingObserver(timeout=poll_interval)
        else:
            from watchdog.observers import Observer

            self._observer = Observer()
        self._observer.schedule(_Handler(loop, on_event), str(directory), recursive=False)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
