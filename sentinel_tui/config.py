"""Settings: every default threshold lives here, with the reason for it (README "Thresholds" repeats them).

``sentinel.toml`` may override any of them (``config_file``); the CLI overrides the file. Unknown keys or bad
values raise ``ConfigError`` (exit status 3), because a typo in a threshold silently ignored is a monitor set
wrong.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
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
    # Categorical features: the largest Cohen's h of one category's share (0.2 "small", 0.5 "medium", as for
    # booleans). Per category, so it means the same at any cardinality; the Jensen-Shannon distance it replaced
    # (Evidently's 0.1) blocked a 30% category gaining 10 points (JS 0.07) and is still reported.
    categorical_effect_warning: float = 0.2
    categorical_effect_critical: float = 0.5
    # Cohen's h for booleans: 0.2 is Cohen's "small" effect, 0.5 "medium".
    boolean_effect_warning: float = 0.2
    boolean_effect_critical: float = 0.5
    # Dataset drift when at least this share of the tested features drifted (Evidently's DataDriftPreset).
    drift_share: float = 0.5
    # The dataset-level test (checks/dataset_drift.py): "mean_shift" (the batch's mean vector in the reference's
    # covariance; sees shifts that move many features a little, such as a change in the mix of classes),
    # "cauchy" (the features' p-values combined) or "none". It gets this share of alpha and the per-feature
    # tests the rest, so a healthy batch still raises a false alarm with probability at most alpha.
    dataset_test: str = "mean_shift"
    dataset_alpha_share: float = 0.5
    # Materiality of the mean shift: its Mahalanobis distance in reference standard deviations, chance level
    # removed. A shift of k std along any one direction of the reference scores k, like the numeric effect
    # size, so the same 0.1 / 0.3.
    dataset_effect_warning: float = 0.1
    dataset_effect_critical: float = 0.3
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
    # PCA components per pooled depth of the network (6 depths: 192 components); the KS tests run per component.
    pca_components: int = 32
    # Family-wise false-alarm rate of the component tests per batch (Bonferroni: alpha / components each).
    alpha: float = 0.05
    # Verdict FAIL when at least this share of components drifted. With Bonferroni a healthy batch almost never
    # has even one drifted component (healthy batches of real photographs: a share of 0 in every one measured),
    # so 10% (19 of 192 components) means a change seen in many directions of the embedding, not noise. The
    # failures of the benchmark score 0.2 (JPEG quality 10) to 0.7 (half the light).
    score_threshold: float = 0.1
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
DATASET_TESTS = ("mean_shift", "cauchy", "none")
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
class EngineSettings:
    # Where profiling and checks run: "local" (this process; the default, and the fastest below a few million
    # rows) or "dask" (a Dask cluster: --engine dask).
    name: str = "local"
    # The cluster's scheduler (tcp://host:8786). Empty: with the dask engine, a LocalCluster sized to this
    # machine is started for the command and stopped after it.
    scheduler: str = ""
    # watch: a batch above the memory budget goes to the scheduler above when one is set, instead of being refused.
    watch_offload: bool = True


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
    engine: EngineSettings = field(default_factory=EngineSettings)
    actions: list[ActionSettings] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def batch_memory_limit(settings: Settings) -> int:
    """Bytes one batch may take in memory ([input] max_batch_memory_mb, or a quarter of physical memory)."""
    if settings.input.max_batch_memory_mb > 0:
        return int(settings.input.max_batch_memory_mb * 1e6)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4)
    except (ValueError, OSError, AttributeError):  # not POSIX: 2 GB
        return 2_000_000_000
