"""The embeddings check: a frame batch against the baseline's frame reference.

Verdict: the share of PCA components (fitted on the reference embeddings) whose two-sample KS test rejects
at alpha / components (Bonferroni) is the drift score; FAIL at ``score_threshold``. Beside it, for the
reader: MMD with a permutation p-value and the distance between mean embeddings (with what a healthy batch
of the same size reaches). Image statistics are tested like numeric features and turned into the
explanation ("frames darker (brightness -38%) and blurrier (sharpness -71%)").
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sentinel_tui import __version__
from sentinel_tui.config import FrameSettings, Settings
from sentinel_tui.frames.embedder import Embedder, embedder_for, new_embedder
from sentinel_tui.frames.frame_reference import FrameReference
from sentinel_tui.frames.imagestats import IMAGE_STATS, image_statistics, relative_change
from sentinel_tui.frames.readers import (
    ARRAY_SUFFIXES,
    IMAGE_SUFFIXES,
    PREPROCESSING,
    FrameBatch,
    FrameReadError,
    load_frame_batch,
    load_images,
)
from sentinel_tui.model import AlertKind, AlertRecord, EmbeddingResult, FeatureDrift, Finding, Severity
from sentinel_tui.stats.multivariate import BlockPCA, mean_distance, mean_distance_null, mmd_test
from sentinel_tui.stats.univariate import compare_numeric

EMBEDDING_SAMPLE = 2000  # raw reference embeddings kept for the mean-distance calibration


# reference ---------------------------------------------------------------------------------------------
def collect_reference_frames(root: Path, s: FrameSettings) -> tuple[np.ndarray, list[tuple[str, str]], int]:
    """Every image (recursively) and array file under ``root`` as model-ready frames, sampled evenly down
    to ``max_reference_frames``. Returns (frames, problems, frames found)."""
    root = Path(root)
    images: list[Path] = []
    arrays: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            low = name.lower()
            if low.endswith(IMAGE_SUFFIXES):
                images.append(Path(dirpath) / name)
            elif low.endswith(ARRAY_SUFFIXES):
                arrays.append(Path(dirpath) / name)
    parts: list[np.ndarray] = []
    problems: list[tuple[str, str]] = []
    for a in arrays:
        try:
            parts.append(load_frame_batch(a, s.input_size, max_frames=s.max_reference_frames,
                                          max_pixels=s.max_pixels).frames)
        except FrameReadError as exc:
            problems.append((str(a.relative_to(root)), exc.reason))
    found = len(images) + sum(len(p) for p in parts)
    budget = max(0, s.max_reference_frames - sum(len(p) for p in parts))
    if len(images) > budget:
        keep = np.unique(np.linspace(0, len(images) - 1, budget).round().astype(int)) if budget else []
        images = [images[i] for i in keep]

    decoded = []
    for p, got in zip(images, load_images(images, s.input_size, s.max_pixels), strict=True):
        if isinstance(got, str):
            problems.append((str(p.relative_to(root)), got))
        else:
            decoded.append(got[0])
    if decoded:
        parts.append(np.stack(decoded))
    frames = np.concatenate(parts) if parts else np.empty((0, s.input_size, s.input_size, 3), np.uint8)
    if len(frames) > s.max_reference_frames:
        keep = np.unique(np.linspace(0, len(frames) - 1, s.max_reference_frames).round().astype(int))
        frames = frames[keep]
    return frames, problems, found


def build_frame_reference(root: Path, settings: Settings) -> tuple[FrameReference, list[tuple[str, str]]]:
    """Embed the reference frames under ``root`` and summarise them for later comparisons."""
    s = settings.frames
    frames, problems, found = collect_reference_frames(root, s)
    minimum = max(s.pca_components + 1, 20)
    if len(frames) < minimum:
        raise ValueError(f"{root} holds {len(frames)} usable frames; a frame baseline needs at least {minimum} "
                         f"({', '.join(IMAGE_SUFFIXES + ARRAY_SUFFIXES)})")
    rng = np.random.default_rng(s.seed)
    calib_idx = np.sort(rng.choice(len(frames), size=min(s.calibration_frames, len(frames)), replace=False))
    embedder, identity = new_embedder(s.input_size, s.weights, s.seed, s.batch_size, frames[calib_idx])
    emb = embedder.embed(frames).astype(np.float64)
    pca = BlockPCA.fit(emb, identity.get("layer_dims") or [emb.shape[1]], s.pca_components)
    sample_idx = (np.sort(rng.choice(len(emb), size=EMBEDDING_SAMPLE, replace=False))
                  if len(emb) > EMBEDDING_SAMPLE else np.arange(len(emb)))
    stats = image_statistics(frames)
    meta = {
        "frames": int(len(frames)), "frames_found": int(found), "source": str(Path(root).name),
        "input_size": s.input_size, "model": identity, "preprocessing": PREPROCESSING,
        "pca_components": pca.components,
        "explained_variance": pca.explained_variance,
        "image_stats": {k: {"median": float(np.median(v)), "p05": float(np.quantile(v, 0.05)),
                            "p95": float(np.quantile(v, 0.95))} for k, v in stats.items()},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "tool_version": __version__,
        "skipped": len(problems),
    }
    ref = FrameReference(meta=meta, pca=pca, projections=pca.transform(emb), embedding_mean=emb.mean(axis=0),
                         embedding_sample=emb[sample_idx], image_stats=stats,
                         weights=[np.asarray(w) for w in embedder.model.get_weights()])
    return ref, problems


def reference_embedder(ref: FrameReference, s: FrameSettings) -> Embedder:
    if not isinstance(ref.embedder, Embedder):
        layers = ref.meta["model"].get("layers")
        ref.embedder = embedder_for(ref.load_weights(), ref.weights_sha, ref.input_size, s.batch_size,
                                    tuple(layers) if layers else None)
    return ref.embedder


def load_batch(path: Path, ref: FrameReference, s: FrameSettings, max_bytes: int | None = None) -> FrameBatch:
    return load_frame_batch(path, ref.input_size, max_frames=s.max_frames, max_pixels=s.max_pixels,
                            max_bytes=max_bytes)


# comparison --------------------------------------------------------------------------------------------
EXACT_BELOW = 100  # frames: below this, exact KS p-values for the image statistics (cheap at these sizes)


def _stat_drift(name: str, ref: FrameReference, values: np.ndarray, s: FrameSettings) -> FeatureDrift:
    sref = ref.sorted_stat(name)
    b = np.sort(values[np.isfinite(values)])
    cmp = compare_numeric(sref, b)
    p_value = cmp.p_value
    if 0 < b.size < EXACT_BELOW:
        # The asymptotic p-value is far too small for a handful of frames (p = 0 where the exact one is 0.04).
        from scipy.stats import ks_2samp

        p_value = float(ks_2samp(np.asarray(ref.image_stats[name], dtype=np.float64), b, method="exact").pvalue)
    std = float(np.std(ref.image_stats[name]))
    effect = cmp.wasserstein / std if std > 0 else (0.0 if cmp.wasserstein == 0 else float("inf"))
    p_threshold = s.stat_alpha / len(IMAGE_STATS)
    drifted = bool(p_value < p_threshold and effect >= s.stat_effect_warning)
    severity = None
    if drifted:
        severity = Severity.CRITICAL if effect >= s.stat_effect_critical else Severity.WARNING
    return FeatureDrift(feature=name, logical_type="numeric", test="ks", statistic=cmp.ks_statistic,
                        p_value=p_value, p_threshold=p_threshold, effect_size_name="wasserstein_norm",
                        effect_size=effect, effect_threshold=s.stat_effect_warning, drifted=drifted,
                        severity=severity, rows=int(b.size),
                        details={"reference_mean": float(np.mean(ref.image_stats[name])),
                                 "batch_mean": float(np.mean(b)) if b.size else None})


# How each statistic scales when every pixel value is multiplied by a (less or more light): contrast, noise
# and colourfulness by a, the Laplacian's variance by a^2. A change that the brightness change predicts is a
# consequence of it, not a second finding.
_LIGHT_POWER = {"contrast": 1, "noise": 1, "colourfulness": 1, "sharpness": 2}
_EXPLAINED = 0.25  # what is left after removing the brightness effect must still be a 25% change
MAX_REASONS = 3


def _explained_by_light(name: str, change: float, light: float | None) -> bool:
    if light is None or name not in _LIGHT_POWER or not np.isfinite(change):
        return False
    ratio = (1 + light) ** _LIGHT_POWER[name]
    if ratio <= 0:
        return False
    left = (1 + change) / ratio - 1
    return abs(left) < _EXPLAINED or np.sign(left) != np.sign(change)


def _distance_null(ref: FrameReference, n: int, seed: int) -> float:
    """Cached per batch size: a stream's batches are mostly the same size, and the resampling is the costliest
    part of the comparison after the model."""
    key = f"null{n}"
    if key not in ref.cache:
        ref.cache[key] = mean_distance_null(ref.embedding_sample, n, seed=seed)
    return ref.cache[key]


def explain(stats: dict[str, FeatureDrift], changes: dict[str, float]) -> str:
    """Words for the drifted image statistics (largest effect first, at most three), leaving out changes
    that another one explains: darker frames also have less contrast, noise and colour; blur removes noise;
    noise raises the Laplacian's variance, which is not "sharper"."""
    drifted = {n: f for n, f in stats.items() if f.drifted}
    light = changes.get("brightness") if "brightness" in drifted else None
    blurrier = "sharpness" in drifted and changes.get("sharpness", 0) < 0
    noisier = "noise" in drifted and changes.get("noise", 0) > 0
    words = []
    for f in sorted(drifted.values(), key=lambda f: -f.effect_size):
        change = changes.get(f.feature, 0.0)
        if f.feature != "brightness" and _explained_by_light(f.feature, change, light):
            continue
        if (f.feature == "sharpness" and change > 0 and noisier) or (f.feature == "noise" and change < 0
                                                                      and blurrier):
            continue
        down, up = IMAGE_STATS[f.feature]
        pct = "n/a" if not np.isfinite(change) else f"{change * 100:+.0f}%"
        words.append(f"{up if change > 0 else down} ({f.feature} {pct})")
    words = words[:MAX_REASONS]
    if not words:
        return ""
    return "frames " + (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1])


def embedding_drift(batch: FrameBatch, ref: FrameReference, embedder: Embedder, s: FrameSettings,
                    seed: int = 0) -> EmbeddingResult:
    emb = embedder.embed(batch.frames).astype(np.float64)
    proj = ref.pca.transform(emb)
    k = proj.shape[1]
    p_threshold = s.alpha / k
    n = proj.shape[0]
    pvals = [float(compare_numeric(ref.sorted_component(j), np.sort(proj[:, j])).p_value) for j in range(k)]
    drifted_count = int(sum(p < p_threshold for p in pvals))
    score = drifted_count / k
    drifted = score >= s.score_threshold
    severity = None
    if drifted:
        severity = Severity.CRITICAL if score >= s.critical_score else Severity.WARNING
    rng = np.random.default_rng(seed)
    ref_proj = ref.projections
    if ref_proj.shape[0] > s.mmd_max_samples:
        ref_proj = ref_proj[rng.choice(ref_proj.shape[0], s.mmd_max_samples, replace=False)]
    b_proj = proj if n <= s.mmd_max_samples else proj[rng.choice(n, s.mmd_max_samples, replace=False)]
    mmd = mmd_test(ref_proj, b_proj, s.mmd_permutations, seed=seed) if n >= 2 else None
    stats = image_statistics(batch.frames)
    image = {name: _stat_drift(name, ref, stats[name], s) for name in IMAGE_STATS if name in ref.image_stats}
    changes = {name: relative_change(ref.image_stats[name], stats[name]) for name in image}
    return EmbeddingResult(
        frames=n, score=score, drifted_components=drifted_count, components=k, score_threshold=s.score_threshold,
        p_threshold=p_threshold, drifted=drifted, severity=severity,
        mmd2=mmd.mmd2 if mmd else float("nan"), mmd_p_value=mmd.p_value if mmd else float("nan"),
        mmd_permutations=s.mmd_permutations, distance=mean_distance(ref.embedding_mean, emb),
        distance_null_p99=_distance_null(ref, n, seed),
        component_p_values=tuple(pvals), image_stats=image, changes=changes, explanation=explain(image, changes),
        model={k2: ref.meta["model"].get(k2) for k2 in ("name", "input_size", "weights", "weights_sha256")})


def frame_findings(batch: FrameBatch, s: FrameSettings) -> list[Finding]:
    """Problems with individual frames (the rest of the batch was still analysed)."""
    out = []
    if batch.problems:
        first = "; ".join(f"{name}: {why}" for name, why in batch.problems[:3])
        more = f" (and {len(batch.problems) - 3} more)" if len(batch.problems) > 3 else ""
        out.append(Finding("unreadable_frames", Severity.WARNING, AlertKind.DATA_QUALITY,
                           f"{len(batch.problems)} of {batch.total} frames skipped: {first}{more}", column="(frames)",
                           values={"skipped": len(batch.problems), "frames": batch.total,
                                   "examples": [list(p) for p in batch.problems[:10]]}))
    if batch.sampled:
        out.append(Finding("frames_sampled", Severity.INFO, AlertKind.PIPELINE,
                           f"{batch.total} frames in the batch; {len(batch.names)} evenly spaced ones analysed "
                           f"(frames.max_frames = {s.max_frames})", column="(frames)",
                           values={"frames": batch.total, "analysed": len(batch.names)}))
    return out


def embedding_alerts(result: EmbeddingResult) -> list[AlertRecord]:
    """At most one alert per batch: embedding drift (with the image terms as its explanation) or, when the
    embeddings pass but the image statistics moved (a colour cast, say), one image-statistics alert."""
    why = f": {result.explanation}" if result.explanation else ""
    if result.drifted and result.severity is not None:
        return [AlertRecord(
            AlertKind.EMBEDDING, result.severity, "embeddings",
            f"embedding drift {result.score * 100:.0f}% ({result.drifted_components} of {result.components} "
            f"components, >= {result.score_threshold * 100:.0f}%){why}")]
    moved = [f for f in result.image_stats.values() if f.drifted and f.severity is not None]
    if not moved:
        return []
    severity = max(f.severity for f in moved if f.severity is not None)
    names = ", ".join(f.feature for f in moved)
    text = result.explanation or f"image statistics changed: {names}"
    return [AlertRecord(AlertKind.EMBEDDING, severity, "image statistics",
                        f"{text} (embedding drift {result.score * 100:.0f}%, below "
                        f"{result.score_threshold * 100:.0f}%)")]
