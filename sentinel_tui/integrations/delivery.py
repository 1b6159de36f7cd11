"""How one alert change is delivered: an HTTP POST, a command, or a line in a JSON-lines file.

Each function runs in an action's worker thread (never on the event loop), returns an ``Outcome`` and never
raises for a delivery problem: a dead webhook or a failing command is reported, not propagated.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

OUTPUT_TAIL = 2000  # characters of a command's output or an HTTP error body kept for the log
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # "HTTP 200", "exit status 0", "timed out after 5s"
    attempts: int = 1
    output: str = ""  # tail of the command's output, or of an HTTP error response


def redact(url: str) -> str:
    """scheme://host:port/… : incoming-webhook URLs carry their secret in the path, so logs show only the host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…" if parts.netloc else "(invalid URL)"


def _tail(data: bytes | str | None) -> str:
    if not data:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[-OUTPUT_TAIL:].strip()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def post_json(url: str, body: bytes, headers: dict[str, str], *, timeout: float, retries: int, backoff: float,
              stop: threading.Event | None = None) -> Outcome:
    """POST with bounded retries: timeouts, connection errors, 429 and 5xx are retried with exponential
    backoff (a 429/503 Retry-After is honoured up to a minute); any other 4xx is final, since sending the
    same request again cannot fix a wrong URL or token. ``stop`` cuts the waits short on shutdown."""
    stop = stop or threading.Event()
    detail, output = "not attempted", ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        wait = None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(OUTPUT_TAIL)
                return Outcome(True, f"HTTP {response.status}", attempt + 1)
        except urllib.error.HTTPError as exc:
            detail, output = f"HTTP {exc.code}", _tail(exc.read(OUTPUT_TAIL) if exc.fp else b"")
            if exc.code != 429 and exc.code < 500:
                return Outcome(False, f"{detail} (not retried: the server refused the request)", attempt + 1,
                               output)
            wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        except TimeoutError:
            detail = f"timed out after {timeout:g}s"
        except urllib.error.URLError as exc:
            reason = exc.reason
            detail = f"timed out after {timeout:g}s" if isinstance(reason, TimeoutError | socket.timeout) \
                else f"cannot connect: {reason}"
        except (OSError, ValueError) as exc:  # connection reset mid-response, malformed URL
            detail = f"failed: {exc}"
        if attempt == retries:
            break
        delay = min(MAX_BACKOFF, wait if wait is not None else backoff * 2 ** attempt)
        if stop.wait(delay):
            detail += " (stopped while waiting to retry)"
            return Outcome(False, detail, attempt + 1, output)
    return Outcome(False, f"{detail} (after {retries + 1} attempts)", retries + 1, output)


def run_command(command: list[str] | str, stdin: bytes, env: dict[str, str], *, timeout: float,
                shell: bool = False, cwd: str | None = None) -> Outcome:
    """Run without a shell (a string is split like a shell would, but never interpreted) unless ``shell``.
    The command runs in its own process group, so a timeout kills what it started too."""
    if shell:
        args: list[str] | str = command if isinstance(command, str) else shlex.join(command)
    else:
        args = shlex.split(command) if isinstance(command, str) else list(command)
    try:
        proc = subprocess.Popen(args, shell=shell, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        return Outcome(False, f"cannot run: {exc}")
    try:
        out, _ = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild left the group and holds the pipe open
            proc.kill()
            out = b""
        return Outcome(False, f"timed out after {timeout:g}s (killed)", output=_tail(out))
    if proc.returncode == 0:
        return Outcome(True, "exit status 0", output=_tail(out))
    return Outcome(False, f"exit status {proc.returncode}", output=_tail(out))


def append_line(path: str, line: str) -> Outcome:
    """One write of one line with O_APPEND: concurrent writers (two monitors, logrotate) never interleave
    inside a line."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        return Outcome(False, f"cannot write {path}: {exc.strerror or exc}")
    return Outcome(True, "written")
