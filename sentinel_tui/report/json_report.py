"""The machine-readable report (``--format json``); its schema is ``sentinel_tui/report_schema.json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sentinel_tui import __version__
from sentinel_tui.model import SCHEMA_VERSION, BatchResult, Status, worst_status


def overall_status(results: list[BatchResult]) -> Status:
    return worst_status([r.status for r in results]) if results else Status.OK


def build_report(results: list[BatchResult], baseline_info: dict[str, Any],
                 mode: str = "check") -> dict[str, Any]:
    status = overall_status(results)
    counts = {s.label: sum(1 for r in results if r.status == s) for s in Status}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "sentinel-tui", "version": __version__},
        "mode": mode,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": status.label,
        "exit_code": int(status),
        "baseline": baseline_info,
        "summary": {"batches": len(results), **counts},
        "batches": [r.to_dict() for r in results],
    }


def dumps(report: dict[str, Any]) -> str:
    # ensure_ascii=False keeps names readable; json still escapes every control character (\u001b).
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)


def report_schema() -> dict[str, Any]:
    text = resources.files("sentinel_tui").joinpath("report_schema.json").read_text(encoding="utf-8")
    return json.loads(text)
