"""Wiring of the integrations onto an engine: alert actions, their log, and the Prometheus endpoint.

Used by ``watch`` (every mode) and ``serve``. Everything here is a subscriber of the engine; nothing changes
how batches are analysed.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from typing import Any

from sentinel_tui.config import ConfigError, Settings
from sentinel_tui.textsafe import clean

ACTION_LOG = "actions.log"  # in the state directory: every delivery, its exit status or HTTP code, and output


class _CleanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Command output and server error bodies are untrusted: no escape sequences reach a terminal or a pager.
        return "\n".join(clean(line) for line in super().format(record).split("\n"))


@dataclass
class Integrations:
    dispatcher: Any = None  # ActionDispatcher
    exporter: Any = None  # MetricsExporter
    server: Any = None  # MetricsServer
    handlers: list[logging.Handler] = field(default_factory=list)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver queued alert changes (within ``timeout``), then stop the endpoint and the log."""
        if self.dispatcher is not None:
            self.dispatcher.close(timeout)
        if self.server is not None:
            self.server.close()
        log = logging.getLogger("sentinel.actions")
        for h in self.handlers:
            log.removeHandler(h)
            h.close()


def attach(engine: Any, settings: Settings, *, stderr: bool) -> Integrations:
    """Subscribe actions and metrics to ``engine``. ``stderr``: also print failed deliveries there (headless
    modes; never under the dashboard, which shows them as alerts). Raises ConfigError on a bad URL, a missing
    environment variable or a port that cannot be bound."""
    out = Integrations()
    if settings.actions:
        from sentinel_tui.integrations.actions import ActionDispatcher

        log = logging.getLogger("sentinel.actions")
        log.setLevel(logging.INFO)
        log.propagate = False
        file_handler = RotatingFileHandler(engine.store.state_dir / ACTION_LOG, maxBytes=1_000_000, backupCount=3,
                                           encoding="utf-8")
        file_handler.setFormatter(_CleanFormatter("%(asctime)s %(levelname)s %(message)s"))
        out.handlers.append(file_handler)
        if stderr:
            console = logging.StreamHandler(sys.stderr)
            console.setLevel(logging.WARNING)
            console.setFormatter(_CleanFormatter("sentinel: action %(message)s"))
            out.handlers.append(console)
        for h in out.handlers:
            log.addHandler(h)
        try:
            out.dispatcher = ActionDispatcher(settings.actions, directory=str(engine.directory),
                                              baseline=engine.baseline.name, base_dir=engine.store.state_dir,
                                              on_result=engine.action_status)
        except ConfigError:
            out.close(0)
            raise
        engine.subscribe(out.dispatcher)
    if settings.metrics.port:
        from sentinel_tui.integrations.prometheus import MetricsExporter, MetricsServer

        out.exporter = MetricsExporter(engine, settings.metrics.max_features)
        try:
            out.server = MetricsServer(out.exporter, settings.metrics.host, settings.metrics.port)
        except OSError as exc:
            out.close(0)
            raise ConfigError(f"cannot serve metrics on {settings.metrics.host}:{settings.metrics.port}: "
                              f"{exc.strerror or exc}") from exc
        engine.subscribe(out.exporter)
        if stderr:
            print(f"sentinel: metrics on {out.server.url}/metrics, liveness on {out.server.url}/health",
                  file=sys.stderr)
    return out
