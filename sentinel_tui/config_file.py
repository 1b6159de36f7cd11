"""Reading ``sentinel.toml`` (and the CLI's overrides) into ``Settings``: every key checked against the
defaults' types and ranges, so a typo or a bad value is a ``ConfigError`` (exit status 3), never ignored."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from sentinel_tui.config import (
    ACTION_TYPES,
    ALERT_CHANGES,
    DATASET_TESTS,
    SEVERITIES,
    ActionSettings,
    ConfigError,
    Settings,
)


def _check_value(section: str, key: str, expected: Any, value: Any) -> Any:
    where = f"[{section}] {key}"
    if isinstance(expected, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(expected, int) and not isinstance(expected, bool):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where} must be a non-negative integer, got {value!r}")
        return value
    if isinstance(expected, float):
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where} must be a non-negative number, got {value!r}")
        if key in {"alpha", "significance", "drift_share", "text_unique_ratio", "stat_alpha", "score_threshold",
                   "critical_score"} and not 0 < value <= 1:
            raise ConfigError(f"{where} must be in (0, 1], got {value!r}")
        return float(value)
    if isinstance(expected, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of column names, got {value!r}")
        return list(value)
    if expected is None or isinstance(expected, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        if key == "dataset_test" and value not in DATASET_TESTS:
            raise ConfigError(f"{where} must be one of {', '.join(DATASET_TESTS)}, got {value!r}")
        if key == "delimiter" and len(value) != 1:
            raise ConfigError(f"{where} must be one character, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported value {value!r}")


_SHARE = (0.0, 1.0, "a share between 0 and 1")
# (section, key) -> (lowest, highest, what it is): values outside silently disable a check or break one.
RANGES: dict[tuple[str, str], tuple[float, float, str]] = {
    **{("validation", k): _SHARE for k in ("null_increase_warning", "null_increase_critical", "out_of_range_warning",
                                           "out_of_range_critical", "unseen_warning", "unseen_critical",
                                           "type_error_critical", "infinity_critical")},
    ("drift", "numeric_effect_warning"): (1e-9, 100.0, "a positive effect size (std units)"),
    ("drift", "numeric_effect_critical"): (1e-9, 100.0, "a positive effect size (std units)"),
    ("drift", "categorical_effect_warning"): (1e-9, 3.1416, "a Cohen's h in (0, pi]"),
    ("drift", "categorical_effect_critical"): (1e-9, 3.1416, "a Cohen's h in (0, pi]"),
    ("drift", "boolean_effect_warning"): (1e-9, 3.1416, "a Cohen's h in (0, pi]"),
    ("drift", "dataset_alpha_share"): (0.0, 0.99, "a share of alpha in [0, 0.99] (the features keep the rest)"),
    ("drift", "dataset_effect_warning"): (1e-9, 100.0, "a positive distance (std units)"),
    ("drift", "dataset_effect_critical"): (1e-9, 100.0, "a positive distance (std units)"),
    ("drift", "boolean_effect_critical"): (1e-9, 3.1416, "a Cohen's h in (0, pi]"),
    ("drift", "min_rows"): (2, 1e12, "at least 2 rows"),
    ("drift", "psi_bins"): (2, 1000, "2 to 1000 bins"),
    ("drift", "low_cardinality"): (0, 10_000, "0 to 10,000 values"),
    ("inference", "max_categories"): (1, 1_000_000, "1 to 1,000,000 categories"),
    ("inference", "sample_rows"): (100, 1e12, "at least 100 rows"),
    ("inference", "sample_cells"): (1000, 1e13, "at least 1,000 cells"),
    ("input", "max_file_mb"): (1e-6, 1e9, "a positive size in MB"),
    ("input", "max_batch_memory_mb"): (0.0, 1e9, "a size in MB (0: a quarter of the memory)"),
    ("alerts", "open_after_warning"): (1, 1000, "1 to 1000 observations"),
    ("alerts", "open_after_critical"): (1, 1000, "1 to 1000 observations"),
    ("alerts", "resolve_after"): (1, 1000, "1 to 1000 observations"),
    ("performance", "min_labels"): (1, 1e9, "at least 1 labelled row"),
    ("performance", "accuracy_tolerance"): _SHARE,
    ("performance", "error_tolerance"): (0.0, 100.0, "a relative rise (0.1 = 10%)"),
    ("performance", "window_rows"): (1, 20_000, "1 to 20,000 rows (the store keeps 20,000 labelled rows)"),
    ("performance", "label_horizon_hours"): (1e-3, 1e6, "a positive number of hours"),
    ("performance", "max_pending_predictions"): (1, 1e9, "at least 1 prediction"),
    ("performance", "bootstrap"): (100, 1e6, "at least 100 resamples"),
    ("watch", "quiet_period"): (0.0, 86_400.0, "0 to 86,400 seconds"),
    ("watch", "queue_size"): (1, 1_000_000, "at least 1 batch"),
    ("watch", "history"): (1, 1_000_000, "at least 1 batch"),
    ("watch", "rescan_interval"): (0.1, 86_400.0, "0.1 to 86,400 seconds"),
    ("watch", "max_open_wait"): (0.0, 604_800.0, "0 to 604,800 seconds"),
    ("frames", "min_frames"): (1, 1_000_000, "at least 1 frame"),
    ("frames", "max_frames"): (1, 10_000_000, "at least 1 frame"),
}
_ORDERED = [("validation", "null_increase"), ("validation", "out_of_range"), ("validation", "unseen"),
            ("drift", "numeric_effect"), ("drift", "categorical_effect"), ("drift", "boolean_effect"),
            ("drift", "dataset_effect")]


def _check_ranges(settings: Settings) -> None:
    for (section, key), (low, high, what) in RANGES.items():
        value = getattr(getattr(settings, section), key)
        if not low <= value <= high:
            raise ConfigError(f"[{section}] {key} must be {what}, got {value!r}")
    for section, stem in _ORDERED:
        target = getattr(settings, section)
        if getattr(target, f"{stem}_critical") < getattr(target, f"{stem}_warning"):
            raise ConfigError(f"[{section}] {stem}_critical must be >= {stem}_warning")
    if settings.frames.min_frames > settings.frames.max_frames:
        raise ConfigError("[frames] min_frames must be <= max_frames (else no frame batch ever gets a verdict)")


def apply_overrides(settings: Settings, data: dict[str, Any]) -> Settings:
    """Apply a nested mapping (from TOML or the CLI) onto ``settings``, rejecting unknown keys."""
    sections = {f.name: f for f in fields(Settings)}
    for section, values in data.items():
        if section == "actions":
            settings.actions = _actions(values)
            continue
        if section not in sections:
            known = ", ".join(sorted(sections))
            raise ConfigError(f"unknown section [{section}] (known: {known})")
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table")
        target = getattr(settings, section)
        known_keys = {f.name for f in fields(target)}
        for key, value in values.items():
            if key not in known_keys:
                raise ConfigError(f"unknown key '{key}' in [{section}] (known: {', '.join(sorted(known_keys))})")
            setattr(target, key, _check_value(section, key, getattr(target, key), value))
    fr = settings.frames
    if not 96 <= fr.input_size <= 224:
        raise ConfigError(f"[frames] input_size must be between 96 and 224 (MobileNetV2), got {fr.input_size}")
    if fr.pca_components < 1 or fr.batch_size < 1:
        raise ConfigError("[frames] pca_components and batch_size must be at least 1")
    if settings.engine.name not in ("local", "dask"):
        raise ConfigError(f"[engine] name must be local or dask, got {settings.engine.name!r}")
    if settings.metrics.port > 65535:
        raise ConfigError(f"[metrics] port must be at most 65535, got {settings.metrics.port}")
    _check_ranges(settings)
    return settings


def _action(i: int, entry: Any) -> ActionSettings:
    if not isinstance(entry, dict):
        raise ConfigError(f"[[actions]] entry {i + 1} must be a table")
    name = entry.get("name", f"action{i + 1}")
    kind = entry.get("type")
    where = f"[[actions]] {name!r}"
    if not isinstance(name, str) or not name or kind not in ACTION_TYPES:
        raise ConfigError(f"{where} needs a name and a type ({', '.join(ACTION_TYPES)}), got type {kind!r}")
    action = ActionSettings(name=name, type=kind)
    known = {f.name: f for f in fields(ActionSettings)}
    for key, value in entry.items():
        if key not in known:
            raise ConfigError(f"unknown key '{key}' in {where} (known: {', '.join(sorted(known))})")
        if key in ("name", "type"):
            continue
        if key == "command":
            ok = isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str)
                                                                                         for v in value))
            if not ok:
                raise ConfigError(f"{where} command must be a list of arguments or a string")
        elif key == "headers":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where} headers must be a table of strings")
        elif key == "on":
            if not isinstance(value, list) or not set(value) <= set(ALERT_CHANGES):
                raise ConfigError(f"{where} on must be a list of: {', '.join(ALERT_CHANGES)}")
        elif key == "min_severity":
            if value not in SEVERITIES:
                raise ConfigError(f"{where} min_severity must be one of {', '.join(SEVERITIES)}")
        elif key == "rate_limit":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where} rate_limit must be a non-negative integer")
        else:
            default = getattr(action, key)
            value = _check_value("actions", key, "" if default is None else default, value)
        setattr(action, key, value)
    if kind == "webhook" and bool(action.url) == bool(action.url_env):
        raise ConfigError(f"{where} needs exactly one of url and url_env")
    if kind == "command" and not action.command:
        raise ConfigError(f"{where} needs a command")
    if kind == "command" and action.shell and not isinstance(action.command, str):
        raise ConfigError(f"{where} shell = true needs the command as one string")
    if kind == "jsonl" and not action.path:
        raise ConfigError(f"{where} needs a path")
    if not action.on:
        action.on = list(ALERT_CHANGES) if kind == "jsonl" else ["opened", "escalated", "resolved"]
    if action.rate_limit < 0:
        action.rate_limit = 0 if kind == "jsonl" else 20
    return action


def _actions(values: Any) -> list[ActionSettings]:
    if not isinstance(values, list):
        raise ConfigError("actions must be an array of tables: [[actions]]")
    actions = [_action(i, entry) for i, entry in enumerate(values)]
    names = [a.name for a in actions]
    if len(set(names)) != len(names):
        raise ConfigError(f"[[actions]] names must be unique, got {names}")
    return actions


def load_settings(path: Path | None) -> Settings:
    settings = Settings()
    if path is None:
        return settings
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return apply_overrides(settings, data)
