"""Embedding drift on frame batches with the real MobileNetV2 (TensorFlow): rates, explanations, weights,
and the optional extra."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sentinel_tui.config import Settings
from sentinel_tui.engine.pipeline import analyse_path
from sentinel_tui.frames.readers import FrameBatch
from sentinel_tui.simulate.frame_batches import corrupt, frame_batch, write_frame_array, write_frame_dir

from .conftest import FRAME_SIZE, frame_settings
from .photos import load_photos, patches

pytest.importorskip("tensorflow", reason="the frames extra is not installed (make test installs it)")
pytestmark = pytest.mark.frames


def _score(batch: np.ndarray, baseline, s: Settings):
    from sentinel_tui.frames.embedding_drift import embedding_drift, reference_embedder

    fb = FrameBatch(batch, [""] * len(batch), [batch.shape[1:3]] * len(batch))
    return embedding_drift(fb, baseline.frames, reference_embedder(baseline.frames, s.frames), s.frames)


@pytest.mark.slow
def test_generated_frames_rates(frames_baseline):
    """Random-initialised model, 64-frame batches: each failure caught in >= 95% of batches, healthy
    batches flagged in <= 2%."""
    s = frame_settings()
    healthy = [_score(frame_batch(64, np.random.default_rng(1000 + i), FRAME_SIZE), frames_baseline, s).drifted
               for i in range(50)]
    assert sum(healthy) <= 1, f"{sum(healthy)} of 50 healthy batches flagged"
    for kind in ("blur", "noise", "low_light"):
        hits = [_score(frame_batch(64, np.random.default_rng(2000 + i), FRAME_SIZE, kind), frames_baseline, s)
                .drifted for i in range(20)]
        assert sum(hits) >= 19, f"{kind}: {sum(hits)} of 20 batches detected"


@pytest.fixture(scope="module")
def photo_baseline(tmp_path_factory):
    """Real photographs (scikit-image's bundled images) cut into 224 px patches, the default input size."""
    from sentinel_tui.baseline.snapshot import load_baseline, save_baseline
    from sentinel_tui.cli.frame_commands import frames_only_baseline
    from sentinel_tui.frames.embedding_drift import build_frame_reference

    root = tmp_path_factory.mktemp("photos")
    photos = load_photos()
    write_frame_array(root / "ref", "patches", patches(photos, 480, np.random.default_rng(0), 224))
    s = Settings()
    s.frames.weights = "random"
    ref, _ = build_frame_reference(root / "ref", s)
    save_baseline(frames_only_baseline("photos", ref), root / "baselines" / "photos")
    return load_baseline("photos", root / "baselines"), photos


@pytest.mark.slow
def test_real_photographs_rates(photo_baseline):
    baseline, photos = photo_baseline
    s = Settings()
    assert baseline.frames.input_size == 224
    healthy = [_score(patches(photos, 64, np.random.default_rng(100 + i), 224), baseline, s).drifted
               for i in range(12)]
    assert sum(healthy) == 0  # the false-alarm rate is measured on 50 generated batches; this is a check
    for kind in ("blur", "noise", "low_light"):
        hits = []
        for i in range(20):
            rng = np.random.default_rng(300 + i)
            hits.append(_score(corrupt(patches(photos, 64, rng, 224), kind, 1.0, rng), baseline, s).drifted)
        assert sum(hits) >= 19, f"{kind}: {sum(hits)} of 20 batches detected"


def test_alerts_explain_in_image_terms(frames_dir, frames_baseline, tmp_path):
    s = frame_settings()
    rng = np.random.default_rng(7)
    dark = analyse_path(write_frame_dir(tmp_path, "dark", frame_batch(64, rng, FRAME_SIZE, "low_light")),
                        frames_baseline, s)
    assert dark.kind == "frames" and dark.embedding.drifted
    alert = next(a for a in dark.alerts if a.subject == "embeddings")
    assert "darker (brightness -" in alert.message and alert.message.startswith("embedding drift ")
    blur = analyse_path(write_frame_array(tmp_path, "blur", frame_batch(64, rng, FRAME_SIZE, "blur")),
                        frames_baseline, s)
    assert blur.embedding.explanation.startswith("frames blurrier (sharpness -")
    assert "less noisy" not in blur.embedding.explanation  # blur removes noise: one cause, one reason
    cast = analyse_path(write_frame_dir(tmp_path, "cast", frame_batch(64, rng, FRAME_SIZE, "colour_cast")),
                        frames_baseline, s)
    # The early layers see colour: a cast is embedding drift now (it passed when only the last layer was
    # pooled), explained by the image statistics, in one alert
    assert cast.embedding.drifted and [a.subject for a in cast.alerts] == ["embeddings"]
    assert "colourful" in cast.alerts[0].message
    ok = analyse_path(write_frame_dir(tmp_path, "ok", frame_batch(64, rng, FRAME_SIZE)), frames_baseline, s)
    assert ok.status.label == "ok" and ok.alerts == () and ok.embedding.verdict == "PASS"
    e = ok.embedding
    assert 0 <= e.mmd_p_value <= 1 and e.distance < e.distance_null_p99 * 1.5
    assert e.model["weights_sha256"] == frames_baseline.frames.weights_sha


def test_bad_frames_in_a_batch_become_a_finding(frames_baseline, tmp_path):
    from PIL import Image

    d = write_frame_dir(tmp_path, "mixed", frame_batch(40, np.random.default_rng(3), FRAME_SIZE))
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("1", (9000, 9000)).save(d / "bomb.png")  # 81 MP declared, a few kilobytes on disk
    s = frame_settings()
    s.frames.max_pixels = 20_000_000
    r = analyse_path(d, frames_baseline, s)
    assert r.embedding is not None and r.embedding.frames == 40
    finding = next(f for f in r.findings if f.check == "unreadable_frames")
    assert "broken.png" in finding.message and "bomb.png" in finding.message and "2 of 42" in finding.message
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"\x93NUMPY garbage")
    bad = analyse_path(junk, frames_baseline, s)
    assert bad.status.label == "critical" and "junk.npy" in bad.findings[0].message


def test_weights_are_checked(frames_dir, frames_baseline, tmp_path):
    import shutil

    from sentinel_tui.baseline.snapshot import load_baseline
    from sentinel_tui.cli.commands import main

    # Tampered weights in the baseline: refused with a clear reason, not silently compared.
    copy = tmp_path / "baselines" / "cams"
    shutil.copytree(frames_dir / "baselines" / "cams", copy)
    with np.load(copy / "embedder.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["w0000"] = arrays["w0000"] + 0.01
    np.savez(copy / "embedder.npz", **arrays)
    tampered = load_baseline(str(copy), tmp_path)
    r = analyse_path(write_frame_array(tmp_path, "b", frame_batch(20, np.random.default_rng(1), FRAME_SIZE)),
                     tampered, frame_settings())
    assert r.status.label == "critical" and r.embedding is None
    assert "not comparable" in r.alerts[0].message and r.alerts[0].subject == "(frames)"
    # Other weights named on the command line: refused before anything is analysed (exit 3).
    code = main(["check", str(tmp_path / "b.npy"), "--baseline", "cams", "--baselines-dir",
                 str(frames_dir / "baselines"), "--weights", "random", "--config", str(_toml(tmp_path))])
    assert code == 3


def _toml(tmp_path: Path) -> Path:
    p = tmp_path / "sentinel.toml"
    p.write_text(f"[frames]\ninput_size = {FRAME_SIZE}\n")
    return p


def test_frame_batch_with_a_table_only_baseline(credit_baseline, tmp_path):
    r = analyse_path(write_frame_array(tmp_path, "f", frame_batch(8, np.random.default_rng(1), 32)),
                     credit_baseline, Settings())
    assert r.status.label == "critical" and "--frames" in r.alerts[0].message


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_without_tensorflow_one_clear_alert(frames_dir, tmp_path):
    """Simulates an install without the extra: ``import tensorflow`` fails as it would."""
    write_frame_array(tmp_path / "w", "f", frame_batch(8, np.random.default_rng(1), FRAME_SIZE))
    out = _run(f"""
        import sys
        sys.modules["tensorflow"] = None  # what an environment without TensorFlow looks like to import
        from sentinel_tui.cli.commands import main
        code = main(["watch", "w", "--once", "--format", "json", "--baseline", "cams",
                     "--baselines-dir", {str(frames_dir / "baselines")!r}])
        sys.exit(code)
    """, tmp_path)
    assert out.returncode == 2, out.stderr
    report = json.loads(out.stdout)
    [alert] = report["open_alerts"]
    assert alert["subject"] == "(frames)" and "pip install 'sentinel-tui[frames]'" in alert["message"]


def test_tabular_use_never_imports_tensorflow(credit_dir, tmp_path):
    from .helpers import credit_batch, write

    (tmp_path / "w").mkdir()
    write(credit_batch(500, 1), tmp_path / "w" / "b.csv")
    out = _run(f"""
        import sys
        from sentinel_tui.cli.commands import main
        main(["check", "w/b.csv", "--baseline", "credit", "--baselines-dir", {str(credit_dir / "baselines")!r}])
        main(["watch", "w", "--once", "--baseline", "credit", "--baselines-dir",
              {str(credit_dir / "baselines")!r}])
        print("LOADED", sorted(m for m in ("tensorflow", "keras", "PIL") if m in sys.modules))
    """, tmp_path)
    assert "LOADED []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_image_statistics_alone_make_one_alert_of_their_own():
    """When the embeddings pass but an image statistic moved, one "image statistics" alert says which."""
    from sentinel_tui.frames.embedding_drift import embedding_alerts
    from sentinel_tui.model import EmbeddingResult, FeatureDrift, Severity

    moved = FeatureDrift(feature="colourfulness", logical_type="numeric", test="ks", statistic=0.6, p_value=1e-9,
                         p_threshold=0.001, effect_size_name="wasserstein_norm", effect_size=0.8,
                         effect_threshold=0.5, drifted=True, severity=Severity.WARNING, rows=64)
    result = EmbeddingResult(frames=64, score=0.02, drifted_components=4, components=192, score_threshold=0.1,
                             p_threshold=0.0003, drifted=False, severity=None, mmd2=0.0, mmd_p_value=0.5,
                             mmd_permutations=100, distance=1.0, distance_null_p99=2.0, component_p_values=(),
                             image_stats={"colourfulness": moved}, changes={"colourfulness": 0.4},
                             explanation="frames more colourful (colourfulness +40%)", model={})
    alerts = embedding_alerts(result)
    assert [(a.subject, a.severity) for a in alerts] == [("image statistics", Severity.WARNING)]
    assert alerts[0].message.startswith("frames more colourful") and "below 10%" in alerts[0].message


def test_a_baseline_of_the_last_layer_alone_is_still_compared_that_way(tmp_path, monkeypatch):
    """Baselines built before several depths were pooled (one 1280-value layer, one PCA under the old file
    keys) load, and their batches are embedded the way their reference was."""
    import functools

    from sentinel_tui.baseline.snapshot import load_baseline, save_baseline
    from sentinel_tui.cli.frame_commands import frames_only_baseline
    from sentinel_tui.frames import embedder, embedding_drift
    from sentinel_tui.simulate.frame_batches import write_reference_frames

    monkeypatch.setattr(embedding_drift, "new_embedder", functools.partial(embedder.new_embedder, layers=None))
    write_reference_frames(tmp_path / "ref", frames=160, size=FRAME_SIZE, seed=3)
    ref, _ = embedding_drift.build_frame_reference(tmp_path / "ref", frame_settings())
    monkeypatch.undo()
    directory = save_baseline(frames_only_baseline("old", ref), tmp_path / "bl" / "old")
    with np.load(directory / "frames.npz") as z:
        arrays = {k: z[k] for k in z.files}
    assert arrays["pca_bounds"].tolist() == [0, 1280]
    old = {k: v for k, v in arrays.items() if not k.startswith("pca")}
    old.update(pca_mean=arrays["pca0_mean"], pca_components=arrays["pca0_components"], pca_ratio=arrays["pca0_ratio"])
    np.savez(directory / "frames.npz", **old)
    meta = json.loads((directory / "baseline.json").read_text())
    meta["frames"]["model"].pop("layer_dims")
    (directory / "baseline.json").write_text(json.dumps(meta))

    baseline = load_baseline("old", tmp_path / "bl")
    rng = np.random.default_rng(9)
    s = frame_settings()
    dark = analyse_path(write_frame_array(tmp_path, "dark", frame_batch(64, rng, FRAME_SIZE, "low_light")), baseline, s)
    assert dark.embedding.components == 32 and dark.embedding.drifted
    ok = analyse_path(write_frame_array(tmp_path, "ok", frame_batch(64, rng, FRAME_SIZE)), baseline, s)
    assert ok.embedding.components == 32 and not ok.embedding.drifted


@pytest.mark.slow
def test_real_photographs_mild_failures_fail_the_verdict_itself(photo_baseline):
    """Blur of one pixel, half the light, half the contrast: the embedding verdict alone (not only the image
    statistics) fails these batches now that every depth of the network is pooled; the last layer alone passed
    them (0-12% of batches)."""
    from tests.benchmarks.realframes import failures

    baseline, photos = photo_baseline
    s = Settings()
    kinds = failures()
    for kind in ("blur sigma 1", "darker x0.5", "contrast x0.5"):
        hits = [_score(kinds[kind](patches(photos, 64, np.random.default_rng(500 + i), 224)), baseline, s)
                for i in range(5)]
        assert all(r.drifted for r in hits), f"{kind}: scores {[round(r.score, 3) for r in hits]}"
