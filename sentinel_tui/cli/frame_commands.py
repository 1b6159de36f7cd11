"""The frame parts of the command line: frame baselines, weight checks, showing a frame reference."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sentinel_tui.textsafe import clean


@contextmanager
def _as_baseline_error() -> Iterator[None]:
    """A missing extra, unusable weights or too few frames end the command with exit 3 and the reason."""
    from sentinel_tui.baseline.snapshot import BaselineError
    from sentinel_tui.frames.embedder import FramesUnavailable, WeightsError

    try:
        yield
    except (FramesUnavailable, WeightsError, ValueError) as exc:
        raise BaselineError(str(exc)) from exc


def build_frames(reference_dir: Path, settings):
    """Embed a reference directory of frames; errors become BaselineError (exit 3) with the reason."""
    from sentinel_tui.baseline.snapshot import BaselineError

    if not reference_dir.is_dir():
        raise BaselineError(f"--frames {reference_dir} is not a directory of reference frames")
    from sentinel_tui.frames.embedder import require_frames_extra
    from sentinel_tui.frames.embedding_drift import build_frame_reference

    with _as_baseline_error():
        require_frames_extra()
        ref, problems = build_frame_reference(reference_dir, settings)
    for name, why in problems[:10]:
        print(f"sentinel: skipped reference frame {clean(name)}: {clean(why)}", file=sys.stderr)
    if len(problems) > 10:
        print(f"sentinel: ... and {len(problems) - 10} more skipped frames", file=sys.stderr)
    return ref


def frames_only_baseline(name: str, frames):
    import pyarrow as pa

    from sentinel_tui import __version__
    from sentinel_tui.baseline.snapshot import Baseline

    meta = {"format_version": 2, "tool_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "source": None, "roles": {},
            "performance": None, "settings": {}}
    return Baseline(name=name, meta=meta, columns={}, sample=pa.table({"_empty": pa.array([], pa.float64())}),
                    frames=frames)


def verify_weights(spec: str, baseline, settings) -> None:
    """``--weights`` on check/watch: refuse unless they are the weights the reference was embedded with."""
    from sentinel_tui.baseline.snapshot import BaselineError

    if baseline.frames is None:
        raise BaselineError(f"--weights given but baseline {baseline.name!r} has no frame reference")
    from sentinel_tui.frames.embedder import new_embedder

    with _as_baseline_error():
        _, identity = new_embedder(baseline.frames.input_size, spec, settings.frames.seed, 1, None)
    want = baseline.frames.weights_sha
    if identity["weights_sha256"] != want:
        model = baseline.frames.meta.get("model", {})
        raise BaselineError(
            f"--weights {spec} (sha256 {identity['weights_sha256'][:12]}…) are not the weights baseline "
            f"{baseline.name!r} was embedded with ({model.get('weights')}, sha256 {want[:12]}…): embeddings "
            "from different weights are not comparable; rebuild the baseline with these weights")


def describe_frames(frames) -> list[str]:
    m = frames.meta
    model = m.get("model", {})
    lines = [f"frames {m.get('frames')} (of {m.get('frames_found')} found in {clean(m.get('source'))}), "
             f"input {m.get('input_size')}px, {m.get('pca_components')} PCA components "
             f"({m.get('explained_variance', 0) * 100:.0f}% of the variance)",
             f"model {model.get('name')} weights {clean(model.get('weights'))} sha256 "
             f"{str(model.get('weights_sha256'))[:16]}…  tensorflow {model.get('tensorflow')}",
             f"preprocessing {m.get('preprocessing')}"]
    stats = m.get("image_stats", {})
    if stats:
        lines.append("image statistics (median [p05, p95]): " + ", ".join(
            f"{k} {v['median']:.3g} [{v['p05']:.3g}, {v['p95']:.3g}]" for k, v in stats.items()))
    return lines
