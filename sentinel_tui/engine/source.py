"""Where batches come from: the watched directory's scan, file identities, and the follow-mode source (watcher
events + readiness + periodic rescans) that hands ready batches to the processor.

The source knows files, not verdicts: it asks the store only which versions were processed already.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sentinel_tui.config import Settings
from sentinel_tui.engine.readiness import ReadinessTracker, batch_of, is_batch_candidate
from sentinel_tui.engine.store import FileIdentity, Store
from sentinel_tui.io.entries import NotRegular, inside, kind_of, open_regular
from sentinel_tui.textsafe import clean


def dir_signature(path: str) -> tuple[int, float] | None:
    """(total bytes, latest mtime) of a frame directory's files: changes whenever a file is added or written."""
    size, mtime = 0, 0.0
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    size += st.st_size + 1  # + 1: an empty marker file still changes the signature
                    mtime = max(mtime, st.st_mtime)
    except OSError:
        return None
    return size, mtime


def _sha256(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open_regular(path, follow_symlinks=False) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def starts_with(path: str, size: int, sha256: str) -> bool:
    """Whether the first ``size`` bytes of ``path`` have this SHA-256: the file grew from that version."""
    h = hashlib.sha256()
    try:
        with open_regular(path, follow_symlinks=False) as fh:
            left = size
            while left > 0 and (block := fh.read(min(left, 1 << 20))):
                h.update(block)
                left -= len(block)
    except OSError:
        return False
    return left == 0 and h.hexdigest() == sha256


def file_identity(path: str, root: Path | None = None, follow_symlinks: bool = False) -> FileIdentity | None:
    """A batch's identity: for a file its bytes; for a frame directory the names and bytes of its files. An
    entry that must not be read (a FIFO, socket or device; a symbolic link not followed) gets an identity of
    its own with a ``note`` saying why, so it is reported once, not read. A link is followed only when
    ``follow_symlinks`` and its target is a regular file inside ``root``."""
    try:
        st = os.lstat(path)
        target = None
        if stat.S_ISLNK(st.st_mode):
            ok = follow_symlinks and root is not None and inside(path, root)
            if not ok:
                why = ("links are not followed ([watch] follow_symlinks)" if not follow_symlinks else
                       "its target is outside the watched directory")
                return FileIdentity(path, 0, st.st_mtime, f"link:{st.st_ino}:{st.st_mtime}",
                                    note=f"symbolic link to {os.readlink(path)!r} ignored: {why}")
            target = os.path.realpath(path)
            st = os.lstat(target)
        read = target or path
        if stat.S_ISDIR(st.st_mode):
            sig = dir_signature(read)
            if sig is None:
                return None
            h = hashlib.sha256()
            for entry in sorted(os.scandir(read), key=lambda e: e.name):
                if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                    h.update(entry.name.encode("utf-8", "surrogateescape") + b"\0")
                    h.update(bytes.fromhex(_sha256(entry.path)))
            return FileIdentity(path=path, size=sig[0], mtime=sig[1], sha256=h.hexdigest(), target=target)
        if not stat.S_ISREG(st.st_mode):
            return FileIdentity(path, 0, st.st_mtime, f"special:{st.st_ino}:{st.st_mode}",
                                note=f"a {kind_of(st.st_mode)}, not a regular file: ignored")
        digest = _sha256(read)
    except NotRegular as exc:  # swapped for something else between lstat and open
        return FileIdentity(path, 0, 0.0, f"special:{exc.kind}", note=f"a {exc.kind}, not a regular file: ignored")
    except OSError:
        return None
    return FileIdentity(path=path, size=st.st_size, mtime=st.st_mtime, sha256=digest, target=target)


def current_stat(path: str) -> tuple[int, float] | None:
    """(size, mtime) of a file (the link itself for a symbolic link), or a frame directory's signature; None
    when it is gone."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return dir_signature(path)
    return st.st_size, st.st_mtime


class DirectoryScan:
    """Which entries of the watched directory are batches, and which of them the store has not processed."""

    def __init__(self, directory: Path, store: Store, settings: Settings):
        self.directory = directory
        self.store = store
        self.settings = settings
        self.state_dir = store.state_dir.resolve()

    def is_candidate(self, path: str, is_dir: bool = False) -> bool:
        return is_batch_candidate(Path(path), self.directory, self.state_dir, is_dir=is_dir)

    def new_batches(self) -> list[str]:
        """Batches already in the directory that are not known to the store, oldest first: files, and frame
        directories (directories holding images or the completion marker). Entries that are neither (FIFOs,
        devices, links) are listed too when named like a batch: the engine reports them once, never reads them."""
        found = []
        for entry in os.scandir(self.directory):
            if entry.is_dir(follow_symlinks=False):
                if not self.is_candidate(entry.path, is_dir=True) or not self._looks_like_frames(entry.path):
                    continue
                sig = dir_signature(entry.path)
                if sig is None or self.store.known_stat(entry.path) == sig:
                    continue
                found.append((sig[1], entry.name, entry.path))
                continue
            if not self.is_candidate(entry.path):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if self.store.known_stat(entry.path) == (st.st_size if stat.S_ISREG(st.st_mode) else 0, st.st_mtime):
                continue  # processed (or reported) before, unchanged: no need to hash it again
            found.append((st.st_mtime, entry.name, entry.path))
        return [p for _, _, p in sorted(found)]

    def _looks_like_frames(self, path: str) -> bool:
        from sentinel_tui.frames.readers import IMAGE_SUFFIXES

        try:
            with os.scandir(path) as it:
                return any(e.name == self.settings.frames.marker or e.name.lower().endswith(IMAGE_SUFFIXES)
                           for e in it)
        except OSError:
            return False


RESCAN_ONLY = 2.0  # seconds between rescans when no watcher can run at all

Report = Callable[[str, str | None, str], None]  # (component, problem or None when fixed, severity)


class FollowSource:
    """Follow mode's producer: what arrived while down first, then watcher events made ready by the readiness
    tracker, with a periodic rescan as a safety net for lost events. Ready batches go to ``deliver`` (which
    waits while the processor's queue is full: backpressure). A watcher that dies is restarted; where inotify
    cannot be started again the directory is polled, and ``report`` says so."""

    WATCHER = "watcher"

    def __init__(self, scan: DirectoryScan, settings: Settings, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[str, float], Awaitable[None]], report: Report, *, poll: bool = False,
                 ready: asyncio.Event | None = None):
        self.scan = scan
        self.settings = settings
        self.loop = loop
        self.deliver = deliver
        self.report = report
        self.poll = poll
        self.tracker = ReadinessTracker(settings.watch.quiet_period, settings.watch.max_open_wait)
        self.queued: set[str] = set()  # delivered and not yet finished: a rescan must not add them again
        self.wake = asyncio.Event()  # a close or rename makes a file ready now: do not wait for the next tick
        self.ready = ready or asyncio.Event()  # the first scan is done (what arrived while down is queued)
        self.watcher = None
        self.restarts = 0
        self.rescans = 0  # periodic rescans done (tests wait on it instead of sleeping)
        self._deaths: list[float] = []  # monotonic times the watcher was found dead (the last minute)

    def done(self, path: str) -> None:
        self.queued.discard(path)

    @property
    def pending(self) -> int:
        """Files seen but not yet ready (waiting for a close, a rename or the quiet period)."""
        return len(self.tracker)

    # watcher events (loop thread) -------------------------------------------------------------------------
    def on_event(self, kind: str, path: str, is_dir: bool = False) -> None:
        found = batch_of(path, self.scan.directory)
        if found is None:
            return
        batch, nested = found
        if is_dir and not nested and self.watcher is not None:
            if kind in ("created", "moved"):
                self.watcher.watch_subdir(path)
            elif kind == "deleted":
                self.watcher.unwatch_subdir(path)
        if nested:
            # A file inside a frame directory: the marker completes the batch, anything else is progress.
            if not self.scan.is_candidate(batch, is_dir=True):
                return
            done = Path(path).name == self.settings.frames.marker and kind in ("created", "closed", "moved")
            kind = "closed" if done else "modified"
        elif not self.scan.is_candidate(path, is_dir=is_dir):
            return
        elif is_dir and kind in ("created", "moved"):
            # A new directory: wait for its marker or the quiet period (a moved-in one may still be filled).
            kind = "modified"
        elif kind == "modified" and not is_dir and self.watcher is not None and self.watcher.reports_closes:
            kind = "written"  # inotify reports the close too: wait for it, not for a pause
        self.tracker.observe(batch, kind, time.monotonic())
        if kind in ("closed", "moved"):
            self.wake.set()

    def _start_watcher(self) -> None:
        from sentinel_tui.engine.watcher import DirectoryWatcher

        state_dir = str(self.scan.state_dir)
        try:
            self.watcher = DirectoryWatcher(self.scan.directory, self.loop, self.on_event, poll=self.poll,
                                            skip=lambda p: p.startswith(state_dir))
            self.watcher.start()
        except Exception as exc:  # noqa: BLE001 (inotify limits, a tree it cannot walk)
            self.watcher = None
            if not self.poll:
                self.poll = True
                self.report(self.WATCHER, f"file-system events unavailable ({exc!r}); polling the directory "
                                          "instead", "warning")
                self._start_watcher()
            else:
                self.report(self.WATCHER, f"the directory cannot be watched ({exc!r}); new batches are found "
                                          f"by rescanning every {RESCAN_ONLY:.0f} s", "warning")

    def _check_watcher(self) -> None:
        if self.watcher is None or self.watcher.alive():
            return
        now = time.monotonic()
        self.restarts += 1
        self._deaths = [t for t in self._deaths if now - t < 60.0] + [now]
        reason = clean(self.watcher.failure() or "no reason given")
        with contextlib.suppress(Exception):
            self.watcher.stop()
        if len(self._deaths) <= 3:
            print(f"sentinel: the file-system watcher stopped ({reason}); restarting it", file=sys.stderr)
            self._start_watcher()
        elif not self.poll:
            # It keeps dying (a tree inotify cannot walk, a kernel limit): poll instead, and say so.
            self.poll, self._deaths = True, []
            self.report(self.WATCHER, f"file-system events keep failing ({reason}); polling the directory "
                                      "instead", "warning")
            self._start_watcher()
        else:
            self.watcher = None
            self.report(self.WATCHER, f"watching the directory keeps failing ({reason}); new batches are found "
                                      f"by rescanning every {RESCAN_ONLY:.0f} s", "warning")

    def _observe_new(self, paths: list[str], now: float) -> None:
        for path in paths:
            if path not in self.queued and path not in self.tracker:
                # Files the store does not know must still be stable for the quiet period before they are read.
                self.tracker.observe(path, "modified", now)

    # the loop -----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        # The observer starts before the first scan, so a file arriving in between is seen by one or the other
        # (or both: the queued set and the file identity make that harmless).
        self._start_watcher()
        try:
            backlog = await asyncio.to_thread(self.scan.new_batches)
            for path in backlog:
                self.queued.add(path)
                await self.deliver(path, time.monotonic())
            self.ready.set()
            last_scan = last_check = time.monotonic()
            while True:
                now = time.monotonic()
                if now - last_check >= 1.0:
                    last_check = now
                    restarts = self.restarts
                    self._check_watcher()
                    if self.restarts != restarts:
                        last_scan = float("-inf")  # what arrived while it was down: rescan now, not in 30 s
                interval = self.settings.watch.rescan_interval if self.watcher is not None else RESCAN_ONLY
                if now - last_scan >= interval:
                    last_scan = now
                    self._observe_new(await asyncio.to_thread(self.scan.new_batches), now)
                    self.rescans += 1
                for path in self.tracker.poll(now, current_stat):
                    if path not in self.queued:
                        self.queued.add(path)
                        await self.deliver(path, now)
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 0.05)
        finally:
            if self.watcher is not None:
                self.watcher.stop()
