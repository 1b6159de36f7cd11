"""Helpers every command shares: settings from arguments, the baseline directory, one-line failures.

They live here, not in ``commands``, so that ``watch``, ``alerts`` and ``serve`` import them without importing
the parser module that imports them (the cycle this module ended).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

EXIT_UNKNOWN = 3
_unknown_on_stdout = False  # --format plugin: a monitoring system reads stdout only, so failures go there too


def plugin_format(on: bool) -> None:
    """From now on (``--format plugin``), a failure is also an ``SENTINEL UNKNOWN - ...`` line on stdout."""
    global _unknown_on_stdout
    _unknown_on_stdout = on


def fail(message: str) -> int:
    from sentinel_tui.textsafe import clean

    with writing_report():  # what stdout holds comes first where both streams go to one log
        sys.stdout.flush()
    print(f"sentinel: {clean(message)}", file=sys.stderr, flush=True)
    if _unknown_on_stdout:
        from sentinel_tui.model import Status
        from sentinel_tui.report.plugin import output, text

        with writing_report():
            sys.stdout.write(output(Status.UNKNOWN, text(message), (), ()))
    return EXIT_UNKNOWN


def stdout_to_devnull() -> None:
    """Point stdout's file descriptor at /dev/null, so that what is still buffered goes nowhere instead of
    failing again at exit (the Python documentation's advice for SIGPIPE, "Note on SIGPIPE")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@contextlib.contextmanager
def writing_report() -> Iterator[None]:
    """Write a report to stdout. A reader that went away (``sentinel check ... | head -1``) ends the report
    quietly: the command still exits with the status its checks computed, not 1 for the pipe."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_to_devnull()


def settings_from(args: argparse.Namespace):
    from sentinel_tui.config_file import apply_overrides, load_settings

    config = getattr(args, "config", None)
    if config is None and os.environ.get("SENTINEL_CONFIG"):
        config = Path(os.environ["SENTINEL_CONFIG"])
    if config is None and Path("sentinel.toml").is_file():
        config = Path("sentinel.toml")
    settings = load_settings(config)
    overrides: dict[str, dict] = {}
    if getattr(args, "alpha", None) is not None:
        overrides.setdefault("drift", {})["alpha"] = args.alpha
    if getattr(args, "max_file_mb", None) is not None:
        overrides.setdefault("input", {})["max_file_mb"] = args.max_file_mb
    if getattr(args, "delimiter", None) is not None:
        overrides.setdefault("input", {})["delimiter"] = args.delimiter
    frames = {k: getattr(args, a) for k, a in (("input_size", "input_size"), ("weights", "weights"),
                                                 ("pca_components", "pca_components"))
              if getattr(args, a, None) is not None and getattr(args, "command", "") == "baseline"}
    if frames:
        overrides["frames"] = frames
    cols: dict = {}
    for role in ("target", "prediction", "score", "proba_prefix", "id", "timestamp", "task"):
        if getattr(args, role, None) is not None:
            cols[role] = getattr(args, role)
    for key in ("categorical", "ignore"):
        values = getattr(args, key, None)
        if values:
            cols[key] = [c for v in values for c in v.split(",") if c]
    if cols:
        overrides["columns"] = cols
    engine = {k: getattr(args, a) for k, a in (("name", "engine"), ("scheduler", "scheduler"))
              if getattr(args, a, None) is not None}
    if engine.get("scheduler") and "name" not in engine:
        engine["name"] = "dask"  # --scheduler alone means the cluster there
    if engine.get("scheduler") and engine.get("name") == "local":
        from sentinel_tui.config import ConfigError

        raise ConfigError("--scheduler names a Dask cluster: it does not go with --engine local")
    if engine:
        overrides["engine"] = engine
    return apply_overrides(settings, overrides)


def baselines_dir(args: argparse.Namespace) -> Path:
    return Path(args.baselines_dir or os.environ.get("SENTINEL_BASELINES", "baselines"))


def verify_weights_arg(args: argparse.Namespace, baseline, settings) -> None:
    if getattr(args, "weights", None):
        from sentinel_tui.cli.frame_commands import verify_weights

        verify_weights(args.weights, baseline, settings)


def baseline_info(baseline) -> dict:
    info = {"name": baseline.name, "path": str(baseline.path), "created_at": baseline.meta.get("created_at"),
            "source": baseline.meta.get("source") or {}}
    if baseline.frames is not None:
        model = baseline.frames.meta.get("model", {})
        info["frames"] = {"frames": baseline.frames.meta.get("frames"), "input_size": baseline.frames.input_size,
                          "weights": model.get("weights"), "weights_sha256": model.get("weights_sha256")}
    return info


def store_problem(state_dir: Path, exc: BaseException) -> str:
    """One line naming the store and the cause, for every way a state directory can be unusable."""
    if isinstance(exc, sqlite3.Error):
        return (f"cannot use the history store {state_dir / 'history.sqlite3'}: {exc} (move it aside to start "
                "a new history, or use another --state-dir)")
    if isinstance(exc, OSError):
        return f"cannot use the state directory {state_dir}: {exc.strerror or exc}"
    return f"cannot use the state directory {state_dir}: {exc}"
