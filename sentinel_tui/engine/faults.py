"""The monitor's own health: alerts about its parts (store, watcher, tasks), and the supervision that keeps
long-lived tasks running.

These alerts live in memory, because the store may be the part that fails; each is published like any alert
change, and written to the store's history once it resolves (if the store works by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable

from sentinel_tui.engine.alertbook import monitor_subject
from sentinel_tui.engine.store import Store
from sentinel_tui.events import Alert, AlertEvent
from sentinel_tui.model import AlertKind, AlertRecord, Severity
from sentinel_tui.textsafe import clean

MAX_BACKOFF = 30.0  # seconds between retries at most (a batch while the store fails, a task that keeps failing)
# Fixed negative ids: never those of stored alerts, and stable across reports of the same part.
_IDS = {"store": -1, "watcher": -2, "source": -3, "processor": -4, "housekeeping": -5, "engine": -6}


def backoff(delay: float) -> float:
    """The next wait after ``delay``: doubled, at most MAX_BACKOFF."""
    return min(delay * 2, MAX_BACKOFF)


class MonitorFaults:
    def __init__(self, store: Store, publish: Callable[[AlertEvent], None]):
        self._store = store
        self._publish = publish
        self._open: dict[str, Alert] = {}  # component -> its open alert
        self._failure: str | None = None

    def __contains__(self, component: str) -> bool:
        return component in self._open

    def alerts(self) -> list[Alert]:
        return list(self._open.values())

    @property
    def failure(self) -> str | None:
        """Why the monitor is not working right now (its critical faults), or None. Read from other threads
        (/health): a string swapped whole on the loop thread, never the dict being changed."""
        return self._failure

    def report(self, component: str, problem: str | None, severity: str = "critical") -> None:
        """Open (or update) the alert about a failing part of the monitor, or resolve it (``problem`` None)."""
        alert = self._open.get(component)
        now = time.time()
        if problem is None:
            if alert is None:
                return
            del self._open[component]
            self._changed()
            alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
            self._publish(AlertEvent("resolved", alert))
            # If the store still fails, the history line is lost; the alert itself was published both ways.
            with contextlib.suppress(sqlite3.Error):
                self._store.record_incident((alert.kind, alert.subject), AlertRecord(
                    AlertKind.PIPELINE, Severity[alert.severity.upper()], alert.subject, alert.message),
                    alert.opened_at, now)
            return
        if alert is not None:
            if alert.message == problem:
                return
            previous = alert.severity
            alert.message, alert.severity, alert.updated_at = problem, severity, now
            alert.count += 1
            self._changed()
            self._publish(AlertEvent("updated", alert, previous_severity=previous))
            return
        alert = Alert(id=_IDS.get(component, -9), kind=AlertKind.PIPELINE.value,
                      subject=monitor_subject(component), severity=severity, message=problem, status="open",
                      opened_at=now, updated_at=now, resolved_at=None, acknowledged_at=None, count=1,
                      first_batch_id=None, last_batch_id=None)
        self._open[component] = alert
        self._changed()
        self._publish(AlertEvent("opened", alert))

    def _changed(self) -> None:
        bad = [a.message for a in self._open.values() if a.severity == "critical"]
        self._failure = "; ".join(bad) if bad else None

    async def supervise(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived task; if it fails, report the fault and start it again (with backoff), so the
        process never runs on without it. The fault resolves once the restarted task has run for 10 s."""
        delay, healthy = 1.0, None
        while True:
            try:
                if name in self:
                    healthy = asyncio.get_running_loop().call_later(10.0, self.report, name, None)
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                if healthy is not None:
                    healthy.cancel()
                message = f"the {name} task failed: {exc!r}; restarted"
                print(f"sentinel: {clean(message)}", file=sys.stderr)
                self.report(name, message)
                await asyncio.sleep(delay)
                delay = backoff(delay)
