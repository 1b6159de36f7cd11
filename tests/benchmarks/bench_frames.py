"""Frame monitoring speed: end-to-end frames/s for 224 x 224 JPEGs (decode, resize, embed, test) against the
raw model's frames/s on tensors that are already preprocessed, measured in the same run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from sentinel_tui.config import Settings
from sentinel_tui.simulate.frame_batches import frame_batch, write_frame_dir

Row = tuple[str, float, str, bool]
FRAMES = 256


def run() -> list[Row]:
    try:
        from sentinel_tui.frames.embedder import preload

        if not preload():
            return [("frames benchmark", 0.0, "skipped: the frames extra is not installed", True)]
    except ImportError:
        return [("frames benchmark", 0.0, "skipped: the frames extra is not installed", True)]
    from sentinel_tui.frames.embedder import embedder_for
    from sentinel_tui.frames.embedding_drift import build_frame_reference, embedding_drift, load_batch

    s = Settings()
    s.frames.weights = "random"
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_frame_dir(root / "ref", "r", frame_batch(256, rng, 224), fmt="jpg")
        ref, _ = build_frame_reference(root / "ref", s)
        layers = tuple(ref.meta["model"]["layers"])
        embedder = embedder_for(ref.load_weights(), ref.weights_sha, 224, s.frames.batch_size, layers)
        plain = embedder_for(ref.load_weights(), ref.weights_sha, 224, s.frames.batch_size)  # last layer only
        batch_dir = write_frame_dir(root, "batch", frame_batch(FRAMES, rng, 224), fmt="jpg")
        tensors = load_batch(batch_dir, ref, s.frames).frames
        embedder.embed(tensors[:64])  # warm up the compiled functions
        plain.embed(tensors[:64])
        model, raw, e2e = [], [], []
        for _ in range(3):  # interleaved, so all see the same machine
            t = time.perf_counter()
            plain.embed(tensors)
            model.append(FRAMES / (time.perf_counter() - t))
            t = time.perf_counter()
            embedder.embed(tensors)
            raw.append(FRAMES / (time.perf_counter() - t))
            t = time.perf_counter()
            embedding_drift(load_batch(batch_dir, ref, s.frames), ref, embedder, s.frames)
            e2e.append(FRAMES / (time.perf_counter() - t))
    model_fps, raw_fps, e2e_fps = max(model), max(raw), max(e2e)
    depths, ratio = raw_fps / model_fps, e2e_fps / raw_fps
    return [("frames/s, MobileNetV2 224 px, its own pooled output", model_fps, "frames per second", True),
            ("frames/s, the embedding: six pooled depths", raw_fps,
             f"frames per second; {depths * 100:.0f}% of the model's (target >= 80%)", depths >= 0.8),
            ("frames/s, end to end: 224 px JPEG decode, resize, embed, tests", e2e_fps,
             f"frames per second; {ratio * 100:.0f}% of the embedding's (target >= 80%); "
             f"{e2e_fps / model_fps * 100:.0f}% of the model's", ratio >= 0.8)]
