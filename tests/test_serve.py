"""One engine per state directory, viewer dashboards, and `sentinel serve` answering on localhost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from sentinel_tui.cli.serve import is_loopback
from sentinel_tui.engine.monitor import Engine
from sentinel_tui.engine.store import Store, StoreBusy
from sentinel_tui.tui.app import SentinelApp

from .conftest import credit_settings
from .helpers import credit_batch, until, write
from .localhttp import closed_port
from .test_engine import drifted

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_one_engine_per_state_directory(tmp_path):
    first, second = Store(tmp_path), Store(tmp_path)
    first.claim()
    with pytest.raises(StoreBusy, match=f"pid {os.getpid()}"):
        second.claim()
    first.close()
    second.claim()  # released with its owner
    second.close()


def test_a_second_headless_monitor_on_the_same_directory_is_refused(tmp_path, credit_dir):
    owner = Store(tmp_path / ".sentinel")
    owner.claim()
    try:
        r = subprocess.run([sys.executable, "-m", "sentinel_tui", "watch", str(tmp_path), "--baseline", "credit",
                            "--baselines-dir", str(credit_dir / "baselines"), "--once"], capture_output=True,
                           text=True)
    finally:
        owner.close()
    assert r.returncode == 3 and "already processing batches" in r.stderr


async def test_viewer_dashboard_follows_another_engine_through_the_store(tmp_path, credit_baseline):
    settings = credit_settings()
    worker = Engine(tmp_path, credit_baseline, settings, Store(tmp_path / ".sentinel"))
    worker.store.claim()
    viewer_engine = Engine(tmp_path, credit_baseline, settings, Store(tmp_path / ".sentinel"))
    app = SentinelApp(viewer_engine, directory=str(tmp_path), baseline="credit", viewer=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        status = str(app.query_one("#status").render())
        assert "VIEWER" in status and "OK" in status
        await worker.process(str(write(credit_batch(600, 1), tmp_path / "b0.csv")))
        await worker.process(str(write(drifted(2), tmp_path / "b1.csv")))
        # the viewer polls the store once a second
        await until(lambda: "CRITICAL" in str(app.query_one("#status").render()), timeout=10)
        await pilot.pause()
        status = str(app.query_one("#status").render())
        assert "CRITICAL" in status and "2 batches" in status
        assert app.query_one("#batches").row_count == 2
        assert app.view.features["income"].drifted
        logged = [e.alert.subject for e in app.view.alert_log]
        assert "income" in logged
        await pilot.press("p")  # a viewer cannot pause the worker
        assert not worker.paused
    worker.store.close()
    viewer_engine.store.close()


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


async def _first_screen(url: str, needle: str, timeout: float = 60) -> str:
    import aiohttp

    seen = ""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps(["resize", {"width": 120, "height": 36}]))
        deadline = time.monotonic() + timeout
        while needle not in seen and time.monotonic() < deadline:
            try:
                msg = await asyncio.wait_for(ws.receive(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if msg.type == aiohttp.WSMsgType.BINARY:
                seen += ANSI.sub("", msg.data.decode("utf-8", "replace"))
            elif msg.type != aiohttp.WSMsgType.TEXT:
                break
    return seen


async def test_serve_answers_on_localhost_and_sessions_are_viewers(tmp_path, credit_dir):
    pytest.importorskip("textual_serve")
    watch_dir = tmp_path / "w"
    watch_dir.mkdir()
    write(drifted(3, 600), watch_dir / "b0.csv")
    port = closed_port()
    proc = subprocess.Popen([sys.executable, "-m", "sentinel_tui", "serve", str(watch_dir), "--baseline", "credit",
                             "--baselines-dir", str(credit_dir / "baselines"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
    try:
        page = ""

        def served() -> bool:
            nonlocal page
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
            except OSError:
                return False
            return bool(page)

        await until(served, 60)
        assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
        screen = await _first_screen(f"http://127.0.0.1:{port}/ws", "VIEWER")
        assert "VIEWER" in screen and "CRITICAL" in screen  # the session shows the serving engine's verdicts
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "batch " in out and "b0.csv status=critical" in out  # the serve process itself analysed the batch
    assert "NO AUTHENTICATION" not in err  # loopback: no warning


def _viewers(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (this test's own directory), serve excluded."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and " watch " in cmd and state != "Z":
            found.append(int(pid))
    return found


@pytest.mark.parametrize("stop", ["term", "kill"])
async def test_serve_leaves_no_viewer_process_behind(tmp_path, credit_dir, stop):
    import signal

    import aiohttp

    pytest.importorskip("textual_serve")
    watch_dir = tmp_path / "w"
    watch_dir.mkdir()
    port = closed_port()
    proc = subprocess.Popen([sys.executable, "-m", "sentinel_tui", "serve", str(watch_dir), "--baseline", "credit",
                             "--baselines-dir", str(credit_dir / "baselines"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    def answers() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
        except OSError:
            return False
        return True

    try:
        await until(answers, 60)
        async with aiohttp.ClientSession() as session:
            for i in range(20):  # tabs that open and close at once (a headless screenshot, a closed tab)
                async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                    await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
                    if i % 2:
                        await asyncio.sleep(0.5)  # this tab stays open for half a second (the scenario)
            # one session that stays until serve ends
            ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws")
            await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
            await until(lambda: bool(_viewers(str(watch_dir))))
            # the sessions that ended have no process left; the open one has one
            await until(lambda: len(_viewers(str(watch_dir))) <= 1)
            assert len(_viewers(str(watch_dir))) == 1
            proc.send_signal(signal.SIGTERM if stop == "term" else signal.SIGKILL)
            proc.wait(timeout=30)
            await ws.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with contextlib.suppress(AssertionError):  # however serve ended, its viewers end too
        await until(lambda: not _viewers(str(watch_dir)), 20)
    left = _viewers(str(watch_dir))
    for pid in left:
        os.kill(pid, 9)
    assert left == []
