"""Settings: every default threshold lives here, with the reason for it (README "Thresholds" repeats them).

``sentinel.toml`` may override any of them; the CLI overrides the file. Unknown keys or bad values raise
``ConfigError`` (exit status 3), because a typo in a threshold silently ignored is a monitor set wrong.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration file or option that cannot be used as given."""


@dataclass
class DriftSettings:
    # Family-wise false-alarm rate per batch. Bonferroni divides it by the number of features tested, so a
    # healthy batch reports drift on any feature with probability <= alpha (measured: ~0.3% at 30 features).
    alpha: float = 0.005
    # Materiality: Wasserstein-1 distance in units of the reference std (Evidently's default 0.1). A pure
    # mean shift of k std gives exactly k, so 0.1 = "a tenth of a std"; 0.3 and above is critical.
    numeric_effect_warning: float = 0.1
    numeric_effect_critical: float = 0.3
    # Jensen-Shannon distance (natural log, as SciPy/Evidently; 0..0.83) for categorical features.
    categorical_effect_warning: float = 0.1
    categorical_effect_critical: float = 0.2
    # Cohen's h for booleans: 0.2 is Cohen's "small" effect, 0.5 "medium".
    boolean_effect_warning: float = 0.2
    boolean_effect_critical: float = 0.5
    # Dataset drift when at least this share of the tested features drifted (Evidently's DataDriftPreset).
    drift_share: float = 0.5
    # Numeric features with at most this many distinct reference values are compared as categories (chi2):
    # KS on a handful of values is very conservative.
    low_cardinality: int = 10
    # Features with fewer non-null batch values than this are skipped (no test is meaningful).
    min_rows: int = 10
    psi_bins: int = 10


@dataclass
class ValidationSettings:
    # Significance used to gate count-based data-quality checks (null rate, out-of-range, constant): a
    # finding needs the count to be implausible under the reference AND the share to exceed the threshold.
    significance: float = 0.001
    null_increase_warning: float = 0.02  # absolute increase of the null rate over the reference
    null_increase_critical: float = 0.2
    out_of_range_warning: float = 0.01  # share of values outside the reference [min, max]
    out_of_range_critical: float = 0.1
    unseen_warning: float = 0.01  # share of rows with categories the reference never had (below: info)
    unseen_critical: float = 0.1
    type_error_critical: float = 0.05  # share of unparseable values; any at all is a warning
    infinity_critical: float = 0.1  # share of +/-inf in a numeric column; any at all is a warning


@dataclass
class InferenceSettings:
    # A string column is categorical when it has at most this many distinct values, or when its distinct
    # values are at most ``text_unique_ratio`` of its rows; otherwise it is free text (not drift-tested).
    max_categories: int = 1000
    text_unique_ratio: float = 0.5
    sample_rows: int = 50_000  # bounded random reference sample kept for exact two-sample tests
    sample_cells: int = 10_000_000  # and at most this many cells, so 1,000-column baselines stay small
    seed: int = 0


@dataclass
class InputSettings:
    max_file_mb: float = 512.0  # larger files (compressed: inflated) are refused with a finding
    # A batch whose estimated in-memory size (CSV: bytes x 3, measured 2.1-2.9x for numeric CSVs in check
    # and watch; frame arrays: sampled frames only) exceeds this is refused with a finding. 0: a quarter of
    # the machine's memory, so one batch can never take the monitor (or its neighbours) down.
    max_batch_memory_mb: float = 0.0
    delimiter: str = ","


@dataclass
class AlertSettings:
    # An alert opens after this many consecutive failing batches. Critical problems (a missing column, an
    # unreadable file, large drift) open at once; a warning must repeat so one borderline batch is not a page.
    open_after_warning: int = 2
    open_after_critical: int = 1
    resolve_after: int = 2  # consecutive clean batches before an open alert resolves


@dataclass
class PerformanceSettings:
    # A metric is degraded when it is worse than the reference by more than the tolerance AND the 99.9%
    # interval of the batch/window excludes the reference value: a tolerance alone fires on noise in small
    # windows, an interval alone on negligible drops in large ones.
    min_labels: int = 100  # fewer labelled rows: "insufficient labels", no verdict
    accuracy_tolerance: float = 0.05  # absolute drop of accuracy (and of F1 / macro F1)
    error_tolerance: float = 0.10  # relative rise of MAE for regression
    window_rows: int = 1000  # rolling window of labelled rows (watch mode)
    window_batches: int = 0  # if > 0, the window is the labelled rows of the last N batches instead
    label_pattern: str = "*.labels.csv"  # files of late labels: the id and the target columns
    label_horizon_hours: float = 168.0  # predictions older than this are pruned (a week of waiting for labels)
    max_pending_predictions: int = 1_000_000  # and at most this many wait for labels (oldest pruned first)
    bootstrap: int = 2000  # resamples for F1 intervals (enough for stable 99.9% percentiles)


@dataclass
class WatchSettings:
    quiet_period: float = 1.0  # seconds a file's size and mtime must be stable (atomic renames skip it)
    queue_size: int = 8  # batches loaded ahead of analysis at most: bounds memory when thousands arrive
    history: int = 500  # recent batches kept in memory for trends (the store keeps everything)
    rescan_interval: float = 30.0  # seconds between directory rescans that catch events the OS dropped
    # Linux (inotify): a file written in place is read when its writer closes it, whatever pauses it makes;
    # only if it stays open this long is it read once quiet (a writer that never closes must not hide it).
    max_open_wait: float = 300.0
    # Symbolic links in the watched directory are not followed (a link to a file elsewhere would put that
    # file's content into reports, the store and webhooks). When true, only links whose target resolves to a
    # regular file or directory inside the watched directory are followed.
    follow_symlinks: bool = False


@dataclass
class FrameSettings:
    # Model input: MobileNetV2 accepts 96-224; 224 is its native size. The baseline records the size and the
    # weights, and batches are always embedded the way the baseline was.
    input_size: int = 224
    # "auto": ImageNet weights when Keras' cache (or KERAS_HOME) already holds them, else "random". "random": a
    # seeded initialisation whose batch-norm statistics are calibrated on the reference frames (without the
    # calibration a random MobileNetV2 shrinks activations to ~1e-12 and stops seeing blur and noise).
    # "imagenet": require ImageNet weights (Keras downloads them once when it can). Or a path to a weights file.
    weights: str = "auto"
    seed: int = 0
    calibration_frames: int = 128  # reference frames used to calibrate batch norm for random weights
    pca_components: int = 32  # PCA of reference embeddings; the KS tests run per component
    # Family-wise false-alarm rate of the component tests per batch (Bonferroni: alpha / components each).
    alpha: float = 0.05
    # Verdict FAIL when at least this share of components drifted. With Bonferroni a healthy batch almost never
    # has even one drifted component (measured 0/600 FAILs), so 30% means a broad change, not noise.
    score_threshold: float = 0.3
    critical_score: float = 0.6  # at or above: the embedding alert is critical, below: a warning
    mmd_permutations: int = 100  # alibi-detect's default
    mmd_max_samples: int = 500  # per side: MMD is quadratic in the pooled sample
    # Image statistics (brightness, contrast, sharpness, noise, colourfulness) are tested like numeric
    # features (KS, Bonferroni over the five) and must also move by this much (Wasserstein in reference stds).
    # Higher than the tabular 0.1 because frames of one batch are often similar, so small moves are common.
    stat_alpha: float = 0.005
    stat_effect_warning: float = 0.5
    stat_effect_critical: float = 1.0
    batch_size: int = 64  # frames per model call
    max_frames: int = 4096  # per batch; larger batches are sampled evenly (and say so)
    # Fewer usable frames than this get an info finding and no verdict: one frame beyond the reference's range
    # already has an exact KS p of about 2/(reference frames + 1), so a single odd frame would page someone.
    min_frames: int = 8
    max_reference_frames: int = 5000
    max_pixels: int = 50_000_000  # images declaring more pixels are refused (decompression bombs)
    marker: str = "_READY"  # a frame directory is complete when this file appears in it


@dataclass
class ColumnRoles:
    target: str | None = None
    prediction: str | None = None
    score: str | None = None  # positive-class probability (binary classification)
    proba_prefix: str | None = None  # per-class probability columns: prefix + class name (multiclass)
    id: str | None = None
    timestamp: str | None = None
    task: str | None = None  # binary | multiclass | regression; inferred from the target when not set
    categorical: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)


SEVERITIES = ("warning", "critical")
ACTION_TYPES = ("webhook", "command", "jsonl")
# Alert changes an action can fire on. "escalated" is an update that raised the severity (warning -> critical).
ALERT_CHANGES = ("opened", "escalated", "updated", "resolved", "acknowledged")


@dataclass
class ActionSettings:
    """One ``[[actions]]`` entry: where alert changes go. Defaults depend on the type (see ``_action``)."""

    name: str
    type: str  # webhook | command | jsonl
    # Severity at least this (an alert's current severity; a resolve carries the last one).
    min_severity: str = "warning"
    # Changes that fire. Default: opened, escalated, resolved (jsonl: every change, it is the log).
    on: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # alert kinds to send (empty: all)
    # At most rate_limit deliveries per rate_period seconds (0: no limit). Default 20 per hour for webhooks
    # and commands: a flapping alert or a broken upstream must not page someone 500 times an hour.
    rate_limit: int = -1
    rate_period: float = 3600.0
    timeout: float = 10.0  # seconds per HTTP attempt / for the whole command
    retries: int = 3  # webhook: attempts after the first on timeouts, connection errors, 429 and 5xx
    backoff: float = 1.0  # seconds before the first retry, doubled for each next one (capped at 60)
    url: str | None = None  # webhook
    url_env: str | None = None  # webhook: read the URL from this environment variable (keeps secrets out)
    headers: dict[str, str] = field(default_factory=dict)  # webhook: ${VAR} is replaced from the environment
    command: list[str] | str | None = None  # command: argv list (or a string split like a shell would)
    shell: bool = False  # command: run a string through /bin/sh (only when set explicitly)
    path: str | None = None  # jsonl: file to append to (relative paths: to the state directory)


@dataclass
class MetricsSettings:
    port: int = 0  # Prometheus endpoint port; 0: off (--metrics-port)
    host: str = "127.0.0.1"  # loopback unless asked: the endpoint has no authentication (--metrics-host)
    # At most this many per-feature effect-size series (largest effect first, drifted features always
    # ahead): a 5,000-column table must not create 5,000 time series in Prometheus.
    max_features: int = 100


@dataclass
class Settings:
    drift: DriftSettings = field(default_factory=DriftSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    input: InputSettings = field(default_factory=InputSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    performance: PerformanceSettings = field(default_factory=PerformanceSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    frames: FrameSettings = field(default_factory=FrameSettings)
    columns: ColumnRoles = field(default_factory=ColumnRoles)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    actions: list[ActionSettings] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    ("drift", "categorical_effect_warning"): (1e-9, 0.8326, "a Jensen-Shannon distance in (0, 0.83]"),
    ("drift", "categorical_effect_critical"): (1e-9, 0.8326, "a Jensen-Shannon distance in (0, 0.83]"),
    ("drift", "boolean_effect_warning"): (1e-9, 3.1416, "a Cohen's h in (0, pi]"),
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
            ("drift", "numeric_effect"), ("drift", "categorical_effect"), ("drift", "boolean_effect")]


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


def batch_memory_limit(settings: Settings) -> int:
    """Bytes one batch may take in memory ([input] max_batch_memory_mb, or a quarter of physical memory)."""
    if settings.input.max_batch_memory_mb > 0:
        return int(settings.input.max_batch_memory_mb * 1e6)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4)
    except (ValueError, OSError, AttributeError):  # not POSIX: 2 GB
        return 2_000_000_000
