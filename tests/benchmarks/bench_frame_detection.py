"""Frame detection on real photographs (scikit-image's bundled images cut into patches of 224 and 64 px):
false alarms of healthy 64-frame batches and detection of each failure, by the embedding verdict alone (FAIL)
and by the batch's status (the verdict or the image statistics)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .realframes import PhotoStream, failures

Row = tuple[str, float, str, bool]
HEALTHY = 60
FAILED = 15
BATCH = 64


def _grid(patch: int, input_size: int, root: Path) -> tuple[dict[str, tuple[float, float]], int]:
    from sentinel_tui.config import Settings
    from sentinel_tui.frames.embedding_drift import build_frame_reference, embedding_drift, reference_embedder
    from sentinel_tui.frames.readers import load_frame_batch
    from sentinel_tui.simulate.frame_batches import write_frame_array

    s = Settings()
    s.frames.weights = "random"
    s.frames.input_size = input_size
    stream = PhotoStream(patch)
    write_frame_array(root / f"ref{patch}", "patches", stream.reference(480))
    ref, _ = build_frame_reference(root / f"ref{patch}", s)
    embedder = reference_embedder(ref, s.frames)

    def outcome(frames: np.ndarray) -> tuple[bool, bool, float]:
        path = write_frame_array(root, f"batch{patch}", frames)
        r = embedding_drift(load_frame_batch(path, ref.input_size, max_frames=4096), ref, embedder, s.frames)
        return r.drifted, r.drifted or any(f.drifted for f in r.image_stats.values()), r.score

    kinds = {"healthy": (lambda f: f, HEALTHY, False), **{k: (f, FAILED, False) for k, f in failures().items()},
             "unseen content": (lambda f: f, FAILED, True)}
    out = {}
    for name, (fail, reps, unseen) in kinds.items():
        got = np.array([outcome(fail(stream.batch(BATCH, np.random.default_rng(10_000 + i), unseen=unseen)))
                        for i in range(reps)])
        out[name] = (float(got[:, 0].mean()), float(got[:, 1].mean()))
        print(f"  score of {name}: median {np.median(got[:, 2]):.3f}, range {got[:, 2].min():.3f}-"
              f"{got[:, 2].max():.3f}")
    return out, ref.pca.components


def run() -> list[Row]:
    from sentinel_tui.frames.embedder import preload

    if not preload():
        return [("frame detection benchmark", 0.0, "skipped: the frames extra is not installed", True)]
    rows: list[Row] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for patch, input_size in ((224, 224), (64, 96)):
            res, k = _grid(patch, input_size, Path(tmp))
            print(f"\nFrames, {patch} px patches at {input_size} px, {BATCH}-frame batches, {k} components "
                  "(verdict FAIL / status not OK):")
            for name, (verdict, status) in res.items():
                print(f"  {name:<18} {verdict * 100:5.0f}% / {status * 100:5.0f}%")
            healthy = res.pop("healthy")
            rows.append((f"frames {patch} px: healthy batches failed (rate)", healthy[0],
                         f"{HEALTHY} batches; status alarms {healthy[1]:.2f}; goal <= 1%", healthy[0] <= 0.01))
            worst = min(res.items(), key=lambda kv: kv[1][0])
            rows.append((f"frames {patch} px: weakest failure, verdict alone (rate)", worst[1][0],
                         f"{worst[0]}; goal >= 90% on each", worst[1][0] >= 0.9))
    print(f"\nframe detection: {time.perf_counter() - start:.0f} s\n")
    return rows
