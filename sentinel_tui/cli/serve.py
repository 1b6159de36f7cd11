"""``sentinel serve``: the dashboard in a web browser, through textual-serve (the ``web`` extra).

This process runs the one engine (with alert actions and metrics, and a headless line per batch on stdout);
each browser session is a separate ``sentinel watch`` process that finds the store claimed and opens as a
viewer of it. So any number of tabs, or none, never analyse a batch twice or stop the monitoring.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from sentinel_tui.cli.common import fail

WEB_HINT = "pip install 'sentinel-tui[web]'  (or: pipx inject sentinel-tui textual-serve)"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_command(args: argparse.Namespace, baseline_path: Path, state_dir: Path) -> str:
    """The command textual-serve starts for each browser session (a viewer of this process's store)."""
    argv = [sys.executable, "-m", "sentinel_tui", "watch", str(Path(args.directory).resolve()),
            "--baseline", str(Path(baseline_path).resolve()), "--state-dir", str(state_dir.resolve()),
            "--theme", args.theme]
    if args.config is not None:
        argv += ["--config", str(Path(args.config).resolve())]
    if args.baselines_dir:
        argv += ["--baselines-dir", str(Path(args.baselines_dir).resolve())]
    # exec: the session process is serve's own child (no shell in between), so it can follow serve's end.
    return "exec " + shlex.join(argv)


SESSION_GRACE = 3.0  # seconds a session process gets to quit on its own before it is terminated, then killed


def bounded_app_service(base: type) -> type:
    """textual-serve's AppService whose session process always ends: asked to quit, then terminated, then
    killed, and every live one stopped when serve stops. (A session whose browser left before the app was
    ready could otherwise stay, drawing for nobody, until the machine reboots.)"""

    class BoundedAppService(base):
        live: set = set()

        async def _open_app_process(self, width: int = 80, height: int = 24):
            process = await super()._open_app_process(width, height)
            BoundedAppService.live.add(self)
            return process

        async def stop(self) -> None:
            process = getattr(self, "_process", None)
            task = getattr(self, "_task", None)
            if task is not None:
                with contextlib.suppress(Exception):
                    await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
                with contextlib.suppress(Exception):
                    await self.send_meta({"type": "quit"})
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), SESSION_GRACE)
            await end_process(process)
            if task is not None and not task.done():
                task.cancel()
            self._task = None
            BoundedAppService.live.discard(self)

    return BoundedAppService


async def end_process(process: Any) -> None:
    if process is None or process.returncode is not None:
        return
    for sig in ("terminate", "kill"):
        with contextlib.suppress(ProcessLookupError):
            getattr(process, sig)()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), SESSION_GRACE)
            return


def serve(args: argparse.Namespace) -> int:
    try:
        import textual_serve.server as ts
        from textual_serve.server import Server
    except ImportError:
        return fail(f"the browser view needs textual-serve: {WEB_HINT}")
    service = ts.AppService = bounded_app_service(ts.AppService)
    from sentinel_tui.cli.watch import open_monitor
    from sentinel_tui.integrations.attach import attach
    from sentinel_tui.report.headless import HeadlessPrinter

    m = open_monitor(args)
    if isinstance(m, int):
        return m
    try:
        if m.busy:
            return fail(m.busy)
        integrations = attach(m.engine, m.settings, stderr=True)
        m.engine.subscribe(HeadlessPrinter("text"))
        if not is_loopback(args.host):
            print(f"sentinel: WARNING: serving the dashboard on {args.host}:{args.port} with NO AUTHENTICATION: "
                  "anyone who can reach this port sees your data and can acknowledge alerts. Prefer the default "
                  "127.0.0.1 with an SSH tunnel, or an authenticating reverse proxy.", file=sys.stderr)

        class MonitorServer(Server):
            """textual-serve's server with the engine running on its event loop."""

            async def on_startup(self, app: Any) -> None:
                await super().on_startup(app)
                self._stop = asyncio.Event()
                self._engine = asyncio.create_task(m.engine.run(self._stop))

            async def on_shutdown(self, app: Any) -> None:
                self._stop.set()
                # Every browser session's process ends with serve.
                await asyncio.gather(*(s.stop() for s in list(service.live)), return_exceptions=True)
                await asyncio.gather(self._engine, return_exceptions=True)

        command = session_command(args, m.baseline.path or Path(args.baseline), m.store.state_dir)
        server = MonitorServer(command, host=args.host, port=args.port, title=f"sentinel · {m.baseline.name}",
                               public_url=args.public_url)
        try:
            server.serve()
        except OSError as exc:
            return fail(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        finally:
            integrations.close()
        return 0
    finally:
        m.store.close()
