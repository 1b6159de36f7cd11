"""What the monitor keeps over time: alerts and their life cycle, and the events the engine publishes (a
batch analysed, labels joined, an alert changed). ``model`` holds what one check finds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinel_tui.model import SCHEMA_VERSION, BatchResult, PerformanceResult, Severity, Status, iso_utc


@dataclass
class Alert:
    """An alert's life cycle as the engine keeps it: opened, updated, acknowledged, resolved."""

    id: int
    kind: str
    subject: str
    severity: str
    message: str
    status: str  # open | acknowledged | resolved
    opened_at: float
    updated_at: float
    resolved_at: float | None
    acknowledged_at: float | None
    count: int  # failing batches seen while open
    first_batch_id: int | None
    last_batch_id: int | None

    @property
    def is_open(self) -> bool:
        return self.status in ("open", "acknowledged")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AlertEvent:
    change: str  # opened | updated | resolved | acknowledged | unacknowledged
    alert: Alert
    previous_severity: str | None = None  # for "updated": the severity before this batch
    at: float | None = None  # when the change happened (None: the alert's own time for it, see ``when``)
    @property
    def when(self) -> float:
        """``at``, or the alert's own time for this change (an acknowledgement's, not the last update's)."""
        own = {"opened": self.alert.opened_at, "acknowledged": self.alert.acknowledged_at,
               "resolved": self.alert.resolved_at}.get(self.change) or self.alert.updated_at
        return self.at if self.at is not None else own


@dataclass(frozen=True)
class EngineStats:
    """Rolling figures over the recent window of batches (bounded memory)."""

    batches: int  # processed since the store was created
    rows_per_second: float | None
    latency_p50: float | None
    latency_p95: float | None
    drift_share: float | None  # of the latest analysed batch
    status: Status  # worst open alert: the traffic light
    open_alerts: int


@dataclass(frozen=True)
class BatchEvent:
    result: BatchResult
    batch_id: int | None
    latency: float | None  # seconds from the file being ready to this event
    processed_at: float
    stats: EngineStats
    performance: PerformanceResult | None = None  # the rolling window of labelled rows after this batch
    replaced: tuple[int, ...] = ()  # batches of the same file this one replaced (it grew in place)


@dataclass(frozen=True)
class LabelsEvent:
    """A file of late labels was joined to the stored predictions."""

    file: str
    rows: int
    matched: int
    unmatched: int  # labels whose id has no stored prediction (unknown, or pruned past the horizon)
    performance: PerformanceResult | None
    processed_at: float
    reason: str | None = None  # set when the file could not be read


def status_of_alerts(alerts: list[Alert]) -> Status:
    open_severities = [Severity[a.severity.upper()] for a in alerts if a.is_open]
    return Status.from_severity(max(open_severities)) if open_severities else Status.OK


def alerts_document(open_alerts: list[Alert], history: list[Alert] | None = None) -> dict[str, Any]:
    """The JSON of ``sentinel alerts DIR --format json`` and of ``/alerts``: the status (worst open alert),
    the open alerts (acknowledged ones included), and with ``--all`` the recent history."""
    status = status_of_alerts(open_alerts)
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "status": status.label, "exit_code": int(status),
                           "open_alerts": [{**a.to_dict(), "opened": iso_utc(a.opened_at),
                                            "updated": iso_utc(a.updated_at)} for a in open_alerts]}
    if history is not None:
        doc["alerts"] = [{**a.to_dict(), "opened": iso_utc(a.opened_at), "updated": iso_utc(a.updated_at),
                          "resolved": iso_utc(a.resolved_at)} for a in history]
    return doc
