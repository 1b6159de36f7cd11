"""Follow mode: the engine's long-lived tasks while it watches a directory.

Three tasks, each supervised (a task that dies is a monitor fault and is restarted with backoff): the source
(watcher, readiness, rescans) delivers ready batches into a bounded queue (backpressure: a full queue makes the
source wait); the processor takes them one at a time, in arrival order; housekeeping ticks the heartbeat that
``/health`` reads, keeps the idle signal, ends alerts about files that are gone and passes on acknowledgements
made by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from sentinel_tui.engine.source import FollowSource
from sentinel_tui.engine.store import STORE_ERRORS

if TYPE_CHECKING:
    from sentinel_tui.engine.monitor import Engine

HOUSEKEEPING_TICK = 0.2  # seconds between heartbeats
STORE_CHORES_EVERY = 5.0  # seconds between looks for files gone and acknowledgements (or the rescan interval)


class FollowLoop:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue(maxsize=max(1, engine.settings.watch.queue_size))
        self.outstanding = 0  # batches handed to the processor and not finished
        self.busy = False  # a batch is between hashing and publishing
        self.source = FollowSource(engine.files, engine.settings, asyncio.get_running_loop(), self.deliver,
                                   engine.report_fault, poll=engine.poll, ready=engine.ready)
        engine.source = self.source

    async def deliver(self, path: str, ready_at: float) -> None:
        self.outstanding += 1
        self.engine.idle_event.clear()
        await self.queue.put((path, ready_at))  # waits while the queue is full: backpressure

    def update_idle(self) -> None:
        """Idle: the first scan is done, nothing is queued or being processed, and no file is waiting to be
        ready (a file seen but not complete yet is not idle either)."""
        if self.source.ready.is_set() and self.outstanding == 0 and not self.source.pending:
            self.engine.idle_event.set()
        else:
            self.engine.idle_event.clear()

    async def process_queue(self) -> None:
        engine = self.engine
        while True:
            path, ready_at = await self.queue.get()
            try:
                await engine.resume_event.wait()
                self.busy = True
                await engine.process_supervised(path, ready_at)
            finally:
                self.busy = False
                self.outstanding -= 1
                self.source.done(path)

    async def housekeeping(self) -> None:
        # Analysis runs in threads, so a long batch or a full queue does not stop the heartbeat.
        engine = self.engine
        last = 0.0
        while True:
            engine.heartbeat = time.monotonic()
            self.update_idle()
            if engine.heartbeat - last >= min(STORE_CHORES_EVERY, engine.settings.watch.rescan_interval):
                last = engine.heartbeat
                with contextlib.suppress(*STORE_ERRORS):  # the processor reports the store; retried next tick
                    engine.resolve_missing_files()
                    engine.pass_on_external_acks()
            await asyncio.sleep(HOUSEKEEPING_TICK)

    async def run(self, stop: asyncio.Event) -> None:
        engine = self.engine
        engine.store.claim()
        tasks = [asyncio.create_task(engine.monitor.supervise(name, fn)) for name, fn in
                 (("source", self.source.run), ("processor", self.process_queue),
                  ("housekeeping", self.housekeeping))]
        try:
            await stop.wait()
        finally:
            engine.stopping.set()
            tasks[0].cancel()
            tasks[2].cancel()
            # Let the batch in progress finish so its result is stored and published, then stop.
            while self.busy and not tasks[1].done():
                await asyncio.sleep(0.05)
            tasks[1].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
