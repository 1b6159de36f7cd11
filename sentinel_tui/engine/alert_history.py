"""Each alert's state history and the batches it was seen in: what the detail of an alert shows.

Kept by the monitor view from the alert events it applies. The store keeps an alert's times (opened, last
update, acknowledged, resolved) but not every change, so an alert first met in the store (the view was loaded,
or a viewer polled, after it opened) starts with the steps those times tell, marked ``stored``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sentinel_tui.events import Alert, AlertEvent

STEPS = 50  # changes kept per alert (the first, the opening, is always kept)
BATCHES = 50  # batch ids kept per alert (the first is always kept)
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
FAILING = ("opened", "updated", "escalated", "de-escalated")  # changes a failing batch makes


@dataclass(frozen=True)
class AlertStep:
    """One change of an alert's state. Consecutive updates at one severity are one step: ``repeats`` of them,
    the first at ``at`` (batch ``batch_id``), the last at ``until`` (batch ``last_batch_id``)."""

    at: float
    change: str  # opened | updated | escalated | de-escalated | acknowledged | unacknowledged | resolved
    severity: str
    batch_id: int | None = None
    repeats: int = 1
    until: float | None = None
    last_batch_id: int | None = None
    stored: bool = False  # told by the alert's stored times, not seen happening


class AlertHistories:
    def __init__(self) -> None:
        self.steps: dict[int, list[AlertStep]] = {}  # alert id -> its state history, oldest first
        self.batches: dict[int, list[int]] = {}  # alert id -> the batches it was seen failing in, in order

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, event: AlertEvent) -> None:
        a, change = event.alert, event.change
        if change == "updated" and event.previous_severity not in (None, a.severity):
            up = SEVERITY_RANK.get(a.severity, 0) > SEVERITY_RANK.get(event.previous_severity or "", 0)
            change = "escalated" if up else "de-escalated"
        steps = self.steps.get(a.id)
        if steps is None and change != "opened":
            # The alert's stored times tell its history up to and including this change, except a withdrawn
            # acknowledgement (which leaves no time).
            steps = self.seed(a)
            if change == "unacknowledged":
                steps.append(AlertStep(event.when, change, a.severity))
            return
        steps = self.steps.setdefault(a.id, [])
        batch = (a.first_batch_id if change == "opened" else a.last_batch_id) if change in FAILING else None
        last = steps[-1] if steps else None
        if change == "updated" and last is not None and last.change == "updated" and last.severity == a.severity:
            steps[-1] = replace(last, repeats=last.repeats + 1, until=event.when,
                                last_batch_id=batch if batch is not None else last.last_batch_id)
        else:
            steps.append(AlertStep(event.when, change, a.severity, batch))
        if len(steps) > STEPS:
            del steps[1]
        self._batches(a)

    def seed(self, a: Alert) -> list[AlertStep]:
        """An alert first met in the store: its history as its stored times tell it."""
        steps = [AlertStep(a.opened_at, "opened", a.severity, a.first_batch_id, stored=True)]
        if a.count > 1 or a.updated_at > a.opened_at:
            steps.append(AlertStep(a.updated_at, "updated", a.severity, a.last_batch_id,
                                   repeats=max(1, a.count - 1), stored=True))
        if a.acknowledged_at is not None:
            steps.append(AlertStep(a.acknowledged_at, "acknowledged", a.severity, stored=True))
        if a.resolved_at is not None:
            steps.append(AlertStep(a.resolved_at, "resolved", a.severity, stored=True))
        steps.sort(key=lambda s: s.at)
        self.steps[a.id] = steps
        self.batches[a.id] = []
        self._batches(a)
        return steps

    def _batches(self, a: Alert) -> None:
        batches = self.batches.setdefault(a.id, [])
        for b in (a.first_batch_id, a.last_batch_id):
            if b is not None and b not in batches:
                batches.append(b)
        if len(batches) > BATCHES:
            del batches[1]

    def keep(self, ids: set[int]) -> None:
        """Forget the histories of every other alert."""
        for alert_id in [i for i in self.steps if i not in ids]:
            del self.steps[alert_id]
            self.batches.pop(alert_id, None)
