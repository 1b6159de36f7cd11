"""The shape of ``baseline.json``, checked before anything uses it.

A baseline may be edited by hand, truncated, or come from elsewhere: every field the checks read is checked
here for its type and range, so a bad one is reported once, naming the field ("columns[3].count: expected a
whole number >= 0, got '12'"), and exits 3, instead of failing later in the middle of an analysis.
"""

from __future__ import annotations

import math
from typing import Any

from sentinel_tui.baseline.profile import ROLES

COLUMN_TYPES = ("numeric", "categorical", "boolean", "datetime", "text")
TASKS = ("binary", "multiclass", "regression")
_MAX_INT = 2**62  # counts beyond this cannot be real and overflow int64 arithmetic


class ShapeError(ValueError):
    """A field of baseline.json has the wrong type, shape or range."""


def _name(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fail(where: str, expected: str, value: Any) -> None:
    raise ShapeError(f"{where}: expected {expected}, got {_name(value)}")


def _int(where: str, value: Any, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= _MAX_INT:
        _fail(where, f"a whole number >= {minimum}", value)
    return value


def _num(where: str, value: Any, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        _fail(where, "a finite number" + (" or null" if optional else ""), value)
    if abs(value) > 1e300:
        _fail(where, "a number of a sane size", value)


def _str(where: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or (not optional and not value):
        _fail(where, "a non-empty string" + (" or null" if optional else ""), value)


def _bool(where: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(where, "true or false", value)


def _dict(where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        _fail(where, "an object", value)
    return value


def _list(where: str, value: Any) -> list:
    if not isinstance(value, list):
        _fail(where, "a list", value)
    return value


def check_column(where: str, c: Any) -> None:
    c = _dict(where, c)
    _str(f"{where}.name", c.get("name"))
    if c.get("type") not in COLUMN_TYPES:
        _fail(f"{where}.type", "one of " + ", ".join(COLUMN_TYPES), c.get("type"))
    if c.get("role", "feature") not in ROLES:
        _fail(f"{where}.role", "one of " + ", ".join(ROLES), c.get("role"))
    count = _int(f"{where}.count", c.get("count", 0))
    nulls = _int(f"{where}.nulls", c.get("nulls", 0))
    if nulls > count:
        _fail(f"{where}.nulls", f"at most count ({count})", nulls)
    for key in ("distinct", "other_count"):
        _int(f"{where}.{key}", c.get(key, 0))
    for key in ("nullable", "has_infinity"):
        _bool(f"{where}.{key}", c.get(key, False))
    for key in ("mean", "std", "min", "max", "top_share"):
        _num(f"{where}.{key}", c.get(key))
    if c.get("std") is not None and c["std"] < 0:
        _fail(f"{where}.std", "a number >= 0", c["std"])
    if c.get("min") is not None and c.get("max") is not None and c["min"] > c["max"]:
        _fail(f"{where}.min", f"at most max ({c['max']})", c["min"])
    for k, v in _dict(f"{where}.quantiles", c.get("quantiles", {})).items():
        _num(f"{where}.quantiles.{k}", v, optional=False)
    edges = _list(f"{where}.psi_edges", c.get("psi_edges", []))
    for i, v in enumerate(edges):
        _num(f"{where}.psi_edges[{i}]", v, optional=False)
    if any(a > b for a, b in zip(edges, edges[1:], strict=False)):
        _fail(f"{where}.psi_edges", "increasing numbers", edges)
    props = _list(f"{where}.psi_proportions", c.get("psi_proportions", []))
    for i, v in enumerate(props):
        _num(f"{where}.psi_proportions[{i}]", v, optional=False)
        if not 0 <= v <= 1:
            _fail(f"{where}.psi_proportions[{i}]", "a share between 0 and 1", v)
    if props and len(props) != len(edges) - 1:
        _fail(f"{where}.psi_proportions", f"{max(len(edges) - 1, 0)} shares (one per PSI bin)", len(props))
    for k, v in _dict(f"{where}.categories", c.get("categories", {})).items():
        _int(f"{where}.categories[{k!r}]", v)


def check_performance(perf: Any, columns: set[str]) -> None:
    perf = _dict("performance", perf)
    if perf.get("task") not in TASKS:
        _fail("performance.task", "one of " + ", ".join(TASKS), perf.get("task"))
    for key in ("target", "prediction"):
        _str(f"performance.{key}", perf.get(key))
        if perf[key] not in columns:
            _fail(f"performance.{key}", "a column of the baseline", perf[key])
    _str("performance.score", perf.get("score"), optional=True)
    if perf["task"] != "regression":
        labels = _list("performance.labels", perf.get("labels"))
        for i, v in enumerate(labels):
            _str(f"performance.labels[{i}]", v)
        _str("performance.positive", perf.get("positive"), optional=True)
        for i, v in enumerate(_list("performance.proba_columns", perf.get("proba_columns", []))):
            _str(f"performance.proba_columns[{i}]", v)
    metrics = _dict("performance.metrics", perf.get("metrics"))
    for k, v in metrics.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isinf(v):
            _fail(f"performance.metrics.{k}", "a finite number", v)
    if "rows" in perf:
        _int("performance.rows", perf["rows"])


def check_baseline(data: Any) -> None:
    """Raise ShapeError naming the first field of ``data`` (a parsed baseline.json) that is unusable."""
    data = _dict("baseline.json", data)
    columns = _list("columns", data.get("columns"))
    seen: set[str] = set()
    for i, c in enumerate(columns):
        check_column(f"columns[{i}]", c)
        if c["name"] in seen:
            _fail(f"columns[{i}].name", "a name not used by another column", c["name"])
        seen.add(c["name"])
    _str("name", data.get("name"), optional=True)
    for key in ("tool_version", "created_at"):
        _str(key, data.get(key), optional=True)
    for key in ("source", "settings"):
        if data.get(key) is not None:
            _dict(key, data[key])
    roles = _dict("roles", data.get("roles", {}))
    for role, value in roles.items():
        if isinstance(value, list):
            for i, v in enumerate(value):
                _str(f"roles.{role}[{i}]", v)
        else:
            _str(f"roles.{role}", value, optional=True)
            if role in ("id", "target", "prediction", "score", "timestamp") and value is not None and columns \
                    and value not in seen:
                _fail(f"roles.{role}", "a column of the baseline", value)
    if data.get("performance") is not None:
        check_performance(data["performance"], seen)
    if data.get("frames") is not None:
        _dict("frames", data["frames"])
