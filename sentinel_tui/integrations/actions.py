"""Alert actions: a subscriber of the engine that sends alert changes to webhooks, commands and files.

The subscriber runs on the event loop and only decides (filters, rate limit) and queues; each action has its
own worker thread, so a slow webhook delays neither analysis nor the other actions. A delivery that fails for
good is logged and reported back to the engine, which shows it as a pipeline warning ``(action NAME)``; the
next successful delivery resolves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import socket
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel_tui.config import ActionSettings, ConfigError
from sentinel_tui.engine.alertbook import action_subject
from sentinel_tui.events import AlertEvent
from sentinel_tui.integrations.delivery import Outcome, append_line, post_json, redact, run_command
from sentinel_tui.model import SCHEMA_VERSION, Severity, iso_utc
from sentinel_tui.textsafe import clean

QUEUE_SIZE = 1000  # alert changes waiting per action; beyond that they are dropped and counted
log = logging.getLogger("sentinel.actions")
Report = Callable[[str, str | None], None]  # (action name, error or None when delivered)


def change_of(event: AlertEvent) -> str:
    """The change as actions see it: an update that raised the severity is an escalation."""
    if event.change == "updated" and event.previous_severity is not None and \
            Severity[event.alert.severity.upper()] > Severity[event.previous_severity.upper()]:
        return "escalated"
    return event.change


def _slack_escape(text: object) -> str:
    # Slack and Mattermost read <...> as links and mentions: data saying "<!channel>" must not page a channel.
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ICONS = {"critical": ":red_circle:", "warning": ":large_yellow_circle:"}


def slack_text(event: AlertEvent, change: str, context: dict[str, str], suppressed: int) -> str:
    a = event.alert
    icon = ":white_check_mark:" if change == "resolved" else ICONS.get(a.severity, ":white_circle:")
    text = (f"{icon} *{a.severity.upper()}* {a.kind} alert {change}: {_slack_escape(a.subject)} - "
            f"{_slack_escape(a.message)}\nbaseline {_slack_escape(context.get('baseline'))} · "
            f"{_slack_escape(context.get('directory'))} · {_slack_escape(context.get('host'))} · alert #{a.id}")
    if suppressed:
        text += f"\n({suppressed} earlier alert changes were not sent: rate limit)"
    return text


def alert_payload(event: AlertEvent, change: str, context: dict[str, str], suppressed: int = 0) -> dict[str, Any]:
    """The JSON every action receives. ``text`` makes a Slack or Mattermost incoming webhook work as is."""
    a = event.alert
    alert = a.to_dict()
    for key in ("opened_at", "updated_at", "resolved_at", "acknowledged_at"):
        alert[key] = iso_utc(alert[key])
    return {"text": slack_text(event, change, context, suppressed), "event": "alert", "change": change,
            "time": iso_utc(a.updated_at), "alert": alert, "previous_severity": event.previous_severity,
            "monitor": dict(context), "suppressed": suppressed, "schema_version": SCHEMA_VERSION}


def command_env(payload: dict[str, Any], action: str) -> dict[str, str]:
    a = payload["alert"]
    extra = {"ACTION": action, "ALERT_ID": a["id"], "ALERT_KIND": a["kind"], "ALERT_SUBJECT": a["subject"],
             "ALERT_SEVERITY": a["severity"], "ALERT_STATUS": a["status"], "ALERT_MESSAGE": a["message"],
             "ALERT_CHANGE": payload["change"], "ALERT_COUNT": a["count"],
             "BASELINE": payload["monitor"].get("baseline", ""), "DIRECTORY": payload["monitor"].get("directory", "")}
    # clean(): environment values cannot hold NUL, and a script echoing them must not print escape sequences.
    return {**os.environ, **{f"SENTINEL_{k}": clean(v) for k, v in extra.items()}}


@dataclass
class _Item:
    payload: dict[str, Any]
    alert_id: int
    change: str


class ActionRunner:
    """One configured action: its filters, its rate limit, its queue and its worker thread."""

    def __init__(self, cfg: ActionSettings, context: dict[str, str], base_dir: Path, report: Report):
        self.cfg = cfg
        self.context = context
        self.report = report
        self.min_severity = Severity[cfg.min_severity.upper()]
        self.subject = action_subject(cfg.name)
        self.url = self._url() if cfg.type == "webhook" else None
        self.headers = {k: self._expand(v) for k, v in cfg.headers.items()}
        self.path = str(base_dir / cfg.path) if cfg.path else None
        self._sent: deque[float] = deque()  # offer times within the rate period
        self.suppressed = 0  # rate-limited or dropped since the last delivery that went out
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"sentinel-action-{cfg.name}", daemon=True)
        self._thread.start()

    def _url(self) -> str:
        cfg = self.cfg
        url = cfg.url or os.environ.get(cfg.url_env or "", "")
        if not url:
            raise ConfigError(f"[[actions]] {cfg.name!r}: environment variable {cfg.url_env} is not set")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"[[actions]] {cfg.name!r}: the webhook URL must start with http:// or https://")
        return url

    def _expand(self, value: str) -> str:
        try:
            return string.Template(value).substitute(os.environ)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"[[actions]] {self.cfg.name!r}: header needs environment variable {exc}") from exc

    # on the event loop -------------------------------------------------------------------------------------
    def wants(self, event: AlertEvent) -> str | None:
        """The change to send, or None when this action's filters leave the event out."""
        change = change_of(event)
        a = event.alert
        if change not in self.cfg.on and not (change == "escalated" and "updated" in self.cfg.on):
            return None
        if Severity[a.severity.upper()] < self.min_severity:
            return None
        if self.cfg.kinds and a.kind not in self.cfg.kinds:
            return None
        if a.subject == self.subject:
            return None  # this action's own failure: sending it the same way would fail the same way
        return change

    def offer(self, event: AlertEvent, change: str, now: float) -> bool:
        cfg = self.cfg
        if cfg.rate_limit:
            while self._sent and self._sent[0] <= now - cfg.rate_period:
                self._sent.popleft()
            if len(self._sent) >= cfg.rate_limit:
                self.suppressed += 1
                log.warning("%s: rate limit (%d per %gs): alert #%d %s not sent", cfg.name, cfg.rate_limit,
                            cfg.rate_period, event.alert.id, change)
                return False
        payload = alert_payload(event, change, self.context, self.suppressed)
        try:
            self._queue.put_nowait(_Item(payload, event.alert.id, change))
        except queue.Full:
            self.suppressed += 1
            log.warning("%s: %d alert changes already waiting; alert #%d %s dropped", cfg.name, QUEUE_SIZE,
                        event.alert.id, change)
            return False
        self._sent.append(now)
        self.suppressed = 0
        return True

    # in the worker thread ----------------------------------------------------------------------------------
    def deliver(self, item: _Item) -> Outcome:
        cfg = self.cfg
        if cfg.type == "webhook":
            body = json.dumps(item.payload, ensure_ascii=False).encode("utf-8")
            return post_json(self.url or "", body, {"User-Agent": "sentinel-tui", **self.headers},
                             timeout=cfg.timeout, retries=cfg.retries, backoff=cfg.backoff, stop=self._stop)
        if cfg.type == "command":
            stdin = json.dumps(item.payload, ensure_ascii=False).encode("utf-8")
            return run_command(cfg.command or [], stdin, command_env(item.payload, cfg.name), timeout=cfg.timeout,
                               shell=cfg.shell)
        line = dict(item.payload)
        line.pop("text")  # the file is for machines; the Slack sentence would only repeat the fields
        return append_line(self.path or "", json.dumps(line, ensure_ascii=False))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                outcome = self.deliver(item)
            except Exception as exc:  # a bug in one delivery must not kill the action's thread
                outcome = Outcome(False, f"internal error: {exc!r}")
            target = redact(self.url) if self.url else (self.path or self.cfg.type)
            if outcome.ok:
                log.info("%s: alert #%d %s -> %s: %s (%d attempt%s)%s", self.cfg.name, item.alert_id, item.change,
                         target, outcome.detail, outcome.attempts, "" if outcome.attempts == 1 else "s",
                         f"\n{outcome.output}" if outcome.output else "")
                self.report(self.cfg.name, None)
            else:
                log.error("%s: alert #%d %s -> %s failed: %s%s", self.cfg.name, item.alert_id, item.change, target,
                          outcome.detail, f"\n{outcome.output}" if outcome.output else "")
                self.report(self.cfg.name, f"{self.cfg.type} {target}: {outcome.detail}")

    def finish(self) -> None:
        """No more items: the worker stops after delivering what is queued."""
        self._queue.put(None)

    def join(self, timeout: float) -> bool:
        """Wait ``timeout`` seconds for the queue to drain, then cut retry waits short."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(max(self.cfg.timeout, 1.0) + 1)
        return not self._thread.is_alive()


class ActionDispatcher:
    """The engine subscriber: alert changes in, one queue per action out."""

    def __init__(self, actions: list[ActionSettings], *, directory: str, baseline: str, base_dir: Path,
                 on_result: Report | None = None):
        self.context = {"directory": directory, "baseline": baseline, "host": socket.gethostname()}
        self._on_result = on_result
        self._loop = None
        self.runners: list[ActionRunner] = []
        try:
            for cfg in actions:
                self.runners.append(ActionRunner(cfg, self.context, base_dir, self._report))
        except ConfigError:
            self.close(0)
            raise

    def _report(self, name: str, error: str | None) -> None:
        """From a worker thread: hand the result to the engine on its loop (SQLite is written there)."""
        if self._on_result is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: the log has it
                loop.call_soon_threadsafe(self._on_result, name, error)

    def __call__(self, event: object) -> None:
        if not isinstance(event, AlertEvent):
            return
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
        now = time.monotonic()
        for runner in self.runners:
            change = runner.wants(event)
            if change is not None:
                runner.offer(event, change, now)

    def close(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for runner in self.runners:
            runner.finish()
        for runner in self.runners:
            runner.join(max(0.0, deadline - time.monotonic()))
