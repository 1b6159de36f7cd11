"""Alert actions with real parts: a local HTTP server on 127.0.0.1, real subprocesses, real files, the real
engine and SQLite store."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import pytest

from sentinel_tui.config import ActionSettings, ConfigError, Settings
from sentinel_tui.config_file import apply_overrides
from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store
from sentinel_tui.events import Alert, AlertEvent
from sentinel_tui.integrations.actions import (
    ActionDispatcher,
    ActionRunner,
    _Item,
    alert_payload,
    change_of,
    slack_text,
)
from sentinel_tui.integrations.delivery import post_json, redact, run_command

from .conftest import credit_settings
from .helpers import credit_batch, wait_until, write
from .localhttp import Hook, closed_port
from .test_engine import drifted

CONTEXT = {"directory": "/data", "baseline": "credit", "host": "box"}


def alert(id=1, severity="critical", kind="drift", subject="income", status="open", message="income drifted"):
    return Alert(id=id, kind=kind, subject=subject, severity=severity, message=message, status=status,
                 opened_at=1.7e9, updated_at=1.7e9 + 60, resolved_at=None, acknowledged_at=None, count=2,
                 first_batch_id=1, last_batch_id=2)


def action(**kw) -> ActionSettings:
    return apply_overrides(Settings(), {"actions": [kw]}).actions[0]


# delivery ----------------------------------------------------------------------------------------------------
def test_webhook_success_posts_the_alert_json_with_a_slack_text():
    with Hook() as hook:
        event = AlertEvent("opened", alert())
        body = json.dumps(alert_payload(event, "opened", CONTEXT)).encode()
        out = post_json(hook.url, body, {"X-Test": "1"}, timeout=5, retries=0, backoff=0)
        assert out.ok and out.detail == "HTTP 200" and out.attempts == 1
        (sent,) = hook.payloads()
        assert sent["alert"]["subject"] == "income" and sent["change"] == "opened"
        assert sent["alert"]["opened_at"] == "2023-11-14T22:13:20+00:00"  # ISO times, not floats
        assert "*CRITICAL* drift alert opened: income" in sent["text"]
        assert hook.requests[0]["headers"]["Content-Type"] == "application/json"
        assert hook.requests[0]["headers"]["X-Test"] == "1"


def test_webhook_slow_server_times_out_and_is_retried_a_bounded_number_of_times():
    with Hook(delay=2.0) as hook:
        started = time.monotonic()
        out = post_json(hook.url, b"{}", {}, timeout=0.3, retries=1, backoff=0.05)
        assert not out.ok and "timed out after 0.3s" in out.detail and out.attempts == 2
        assert len(hook.requests) == 2
        assert time.monotonic() - started < 1.9  # gave up on each attempt, did not wait for the server


def test_webhook_500_then_success_is_retried_with_backoff():
    with Hook(statuses=(500, 503, 200)) as hook:
        out = post_json(hook.url, b"{}", {}, timeout=5, retries=3, backoff=0.05)
        assert out.ok and out.attempts == 3 and len(hook.requests) == 3


def test_webhook_4xx_is_final_not_retried():
    with Hook(statuses=(404,)) as hook:
        out = post_json(hook.url, b"{}", {}, timeout=5, retries=3, backoff=0.05)
        assert not out.ok and out.attempts == 1 and "HTTP 404" in out.detail and len(hook.requests) == 1


def test_webhook_unreachable_fails_after_all_attempts():
    out = post_json(f"http://127.0.0.1:{closed_port()}/x", b"{}", {}, timeout=2, retries=2, backoff=0.01)
    assert not out.ok and out.attempts == 3 and "cannot connect" in out.detail


def test_logged_urls_hide_the_secret_path():
    assert redact("https://user:pw@hooks.slack.com/services/T0/B0/SECRET") == "https://hooks.slack.com/…"


def test_slack_text_cannot_mention_a_channel_or_inject_escape_sequences():
    event = AlertEvent("opened", alert(subject="<!channel> \x1b[31mred", message="a & b <http://evil|click>"))
    text = slack_text(event, "opened", CONTEXT, 0)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "\x1b" not in text and "&lt;http://evil|click&gt;" in text and "a &amp; b" in text


def test_command_gets_the_alert_json_on_stdin_and_sentinel_env(tmp_path):
    out_file = tmp_path / "got.json"
    script = tmp_path / "retrain.py"
    script.write_text("import json, os, sys\n"
                      "d = json.load(sys.stdin)\n"
                      "env = {k: v for k, v in os.environ.items() if k.startswith('SENTINEL_')}\n"
                      f"open({str(out_file)!r}, 'w').write(json.dumps({{'payload': d, 'env': env}}))\n"
                      "print('retraining started')\n")
    cfg = action(name="retrain", type="command", command=[sys.executable, str(script)])
    runner = ActionRunner(cfg, CONTEXT, tmp_path, lambda name, err: None)
    try:
        payload = alert_payload(AlertEvent("opened", alert(subject="in\x00come")), "opened", CONTEXT)
        out = runner.deliver(_Item(payload, 1, "opened"))
    finally:
        runner.finish()
        runner.join(5)
    assert out.ok and out.output == "retraining started"
    got = json.loads(out_file.read_text())
    assert got["payload"]["alert"]["severity"] == "critical"
    env = got["env"]
    assert env["SENTINEL_ALERT_KIND"] == "drift" and env["SENTINEL_ALERT_CHANGE"] == "opened"
    assert env["SENTINEL_ALERT_SUBJECT"] == "in\\x00come"  # NUL cannot be in the environment: made visible
    assert env["SENTINEL_BASELINE"] == "credit" and env["SENTINEL_ACTION"] == "retrain"


def test_command_timeout_kills_the_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    out = run_command(["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], b"{}", dict(os.environ),
                      timeout=0.5)
    assert not out.ok and "timed out after 0.5s (killed)" in out.detail
    child = int(pid_file.read_text())
    assert wait_until(lambda: not _alive(child), 5), "the command's own child was left running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its parent's reaper counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_command_failure_captures_exit_status_and_output():
    out = run_command([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], b"", dict(os.environ),
                      timeout=10)
    assert not out.ok and out.detail == "exit status 3" and out.output == "boom"
    missing = run_command(["/nonexistent/retrain"], b"", dict(os.environ), timeout=5)
    assert not missing.ok and "cannot run" in missing.detail


def test_command_string_is_never_given_to_a_shell_unless_configured(tmp_path):
    marker = tmp_path / "pwned"
    out = run_command(f"echo $HOME; touch {marker}", b"", dict(os.environ), timeout=5)
    assert out.ok and out.output == f"$HOME; touch {marker}" and not marker.exists()
    shell = run_command(f"touch {marker}", b"", dict(os.environ), timeout=5, shell=True)
    assert shell.ok and marker.exists()


# filters and rate limit --------------------------------------------------------------------------------------
def test_filters_severity_kinds_and_changes(tmp_path):
    cfg = action(name="crit", type="jsonl", path="a.jsonl", min_severity="critical", kinds=["drift"],
                 on=["opened", "escalated"])
    runner = ActionRunner(cfg, CONTEXT, tmp_path, lambda *a: None)
    try:
        assert runner.wants(AlertEvent("opened", alert())) == "opened"
        assert runner.wants(AlertEvent("opened", alert(severity="warning"))) is None
        assert runner.wants(AlertEvent("opened", alert(kind="schema"))) is None
        assert runner.wants(AlertEvent("resolved", alert(status="resolved"))) is None
        assert runner.wants(AlertEvent("updated", alert(), previous_severity="warning")) == "escalated"
        assert runner.wants(AlertEvent("updated", alert(), previous_severity="critical")) is None
        # its own failure alert is not sent the way that is failing
        assert runner.wants(AlertEvent("opened", alert(kind="drift", subject="(action crit)"))) is None
    finally:
        runner.finish()
        runner.join(5)
    assert change_of(AlertEvent("updated", alert(severity="warning"), previous_severity="critical")) == "updated"


def test_rate_limit_suppresses_and_the_next_delivery_says_how_many(tmp_path):
    cfg = action(name="log", type="jsonl", path="alerts.jsonl", rate_limit=2, rate_period=60)
    runner = ActionRunner(cfg, CONTEXT, tmp_path, lambda *a: None)
    now = 1000.0
    sent = [runner.offer(AlertEvent("opened", alert(id=i)), "opened", now + i) for i in range(5)]
    assert sent == [True, True, False, False, False] and runner.suppressed == 3
    assert runner.offer(AlertEvent("opened", alert(id=9)), "opened", now + 61)  # the window moved on
    runner.finish()
    assert runner.join(5)
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [x["alert"]["id"] for x in lines] == [0, 1, 9]
    assert [x["suppressed"] for x in lines] == [0, 0, 3]


def test_action_config_errors_are_clear():
    with pytest.raises(ConfigError, match="exactly one of url and url_env"):
        action(name="h", type="webhook")
    with pytest.raises(ConfigError, match="unknown key 'ulr'"):
        action(name="h", type="webhook", ulr="http://x")
    with pytest.raises(ConfigError, match="shell = true needs the command as one string"):
        action(name="c", type="command", command=["a"], shell=True)
    with pytest.raises(ConfigError, match="names must be unique"):
        apply_overrides(Settings(), {"actions": [{"name": "a", "type": "jsonl", "path": "x"},
                                                 {"name": "a", "type": "jsonl", "path": "y"}]})
    defaults = action(name="h", type="webhook", url="http://127.0.0.1/x")
    assert defaults.on == ["opened", "escalated", "resolved"] and defaults.rate_limit == 20
    assert action(name="j", type="jsonl", path="x").rate_limit == 0
    env_missing = action(name="h", type="webhook", url_env="SENTINEL_TEST_UNSET_URL")
    with pytest.raises(ConfigError, match="SENTINEL_TEST_UNSET_URL is not set"):
        ActionDispatcher([env_missing], directory="d", baseline="b", base_dir=".")


# with the engine -----------------------------------------------------------------------------------------------
def engine_with(tmp_path, baseline, actions) -> tuple[Engine, ActionDispatcher]:
    settings = credit_settings()
    settings.actions = actions
    engine = Engine(tmp_path, baseline, settings, Store(tmp_path / ".sentinel"))
    dispatcher = ActionDispatcher(actions, directory=str(tmp_path), baseline="credit",
                                  base_dir=tmp_path / ".sentinel", on_result=engine.action_status)
    engine.subscribe(dispatcher)
    return engine, dispatcher


async def drain(dispatcher: ActionDispatcher) -> None:
    await asyncio.to_thread(dispatcher.close, 20)
    # The results were handed to the loop (call_soon_threadsafe) before close returned: one turn runs them.
    await asyncio.sleep(0)


async def test_jsonl_file_records_every_alert_change_in_order(tmp_path, credit_baseline):
    engine, dispatcher = engine_with(tmp_path, credit_baseline, [action(name="log", type="jsonl",
                                                                        path="alerts.jsonl")])
    for i, df in enumerate([drifted(1), drifted(2), credit_batch(600, 3), credit_batch(600, 4)]):
        await engine.process(str(write(df, tmp_path / f"b{i}.csv")))
    await drain(dispatcher)
    lines = [json.loads(line) for line in (tmp_path / ".sentinel" / "alerts.jsonl").read_text().splitlines()]
    income = [(x["change"], x["alert"]["status"]) for x in lines if x["alert"]["subject"] == "income"]
    assert income == [("opened", "open"), ("updated", "open"), ("resolved", "resolved")]
    assert all("text" not in x and x["monitor"]["baseline"] == "credit" for x in lines)
    engine.store.close()


async def test_failed_webhook_is_a_pipeline_warning_that_batches_do_not_resolve(tmp_path, credit_baseline):
    dead = action(name="hook", type="webhook", url=f"http://127.0.0.1:{closed_port()}/x", retries=0)
    engine, dispatcher = engine_with(tmp_path, credit_baseline, [dead])
    started = time.monotonic()
    await engine.process(str(write(drifted(1), tmp_path / "b0.csv")))
    assert time.monotonic() - started < 5  # analysis did not wait for delivery
    await drain(dispatcher)
    failing = [a for a in engine.open_alerts() if a.subject == "(action hook)"]
    assert len(failing) == 1 and failing[0].kind == "pipeline" and failing[0].severity == "warning"
    assert "cannot connect" in failing[0].message
    for i in range(3):  # healthy batches resolve the drift, not the broken action
        await engine.process(str(write(credit_batch(600, 10 + i), tmp_path / f"h{i}.csv")))
    assert [a.subject for a in engine.open_alerts()] == ["(action hook)"]
    log = (tmp_path / ".sentinel").glob("*.log")
    assert not list(log)  # the action log is the CLI's (integrations.attach), not the engine's

    with Hook() as hook:  # the webhook works again: the next delivery resolves the warning
        engine._subscribers.remove(dispatcher)
        live = action(name="hook", type="webhook", url=hook.url)
        dispatcher = ActionDispatcher([live], directory=str(tmp_path), baseline="credit", base_dir=tmp_path,
                                      on_result=engine.action_status)
        engine.subscribe(dispatcher)
        await engine.process(str(write(drifted(5), tmp_path / "b1.csv")))
        await drain(dispatcher)
        assert {p["alert"]["subject"] for p in hook.payloads()} >= {"income"}
    assert not [a for a in engine.open_alerts() if a.subject == "(action hook)"]
    engine.store.close()
