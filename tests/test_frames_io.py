"""Frame batches on disk: every image mode and format, arrays, and bad input that must not crash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from sentinel_tui.frames.imagestats import image_statistics, relative_change
from sentinel_tui.frames.readers import FrameReadError, load_frame_batch
from sentinel_tui.simulate.frame_batches import frame_batch, gaussian_blur
from sentinel_tui.stats.multivariate import PCA, mean_distance_null, mmd_test

Image = pytest.importorskip("PIL.Image", reason="the frames extra is not installed")


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_every_mode_and_format_becomes_rgb(tmp_path):
    rng = np.random.default_rng(0)
    rgb = frame_batch(1, rng, 64)[0]
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.jpg", quality=90)
    Image.fromarray(rgb).save(tmp_path / "c.bmp")
    Image.fromarray(rgb).save(tmp_path / "d.webp")
    Image.fromarray(rgb).convert("L").save(tmp_path / "e_grey.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "f_rgba.png")
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "g_palette.png", transparency=0)
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "h_16bit.png")
    Image.fromarray(rgb).resize((300, 200)).save(tmp_path / "i_big.png")  # other size and aspect
    (tmp_path / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    before = _digest(tmp_path)
    batch = load_frame_batch(tmp_path, 96)
    assert batch.frames.shape == (9, 96, 96, 3) and batch.frames.dtype == np.uint8
    assert batch.problems == []
    assert batch.names[0] == "a.png" and (300, 200) in batch.source_sizes
    grey = batch.frames[batch.names.index("e_grey.png")]
    assert np.array_equal(grey[..., 0], grey[..., 1])  # grey replicated into three channels
    sixteen = batch.frames[batch.names.index("h_16bit.png")].astype(int)
    # 16-bit values are scaled to 8 bits, not clipped to white.
    expected = np.asarray(Image.fromarray(rgb[..., 0]).resize((96, 96), Image.Resampling.BILINEAR)).mean()
    assert abs(sixteen[..., 0].mean() - expected) < 3
    assert _digest(tmp_path) == before  # inputs are never modified


def test_bad_images_are_named_and_the_rest_analysed(tmp_path):
    rng = np.random.default_rng(1)
    for i, frame in enumerate(frame_batch(5, rng, 64)):
        Image.fromarray(frame).save(tmp_path / f"ok_{i}.png")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    good = (tmp_path / "ok_0.png").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + good[:40])
    # A decompression bomb: a tiny file that declares 4,000 x 4,000 pixels (limit set to 1 MP here).
    Image.new("1", (4000, 4000)).save(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 10_000
    batch = load_frame_batch(tmp_path, 64, max_pixels=1_000_000)
    assert len(batch.frames) == 5 and batch.total == 8
    reasons = dict(batch.problems)
    assert set(reasons) == {"garbage.png", "truncated.jpg", "bomb.png"}
    assert "decompression bomb" in reasons["bomb.png"] and "16 MP" in reasons["bomb.png"]


def test_a_directory_without_usable_frames_is_an_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(FrameReadError, match="none of the 1 images"):
        load_frame_batch(tmp_path, 64)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FrameReadError, match="no images"):
        load_frame_batch(empty, 64)


def test_arrays(tmp_path):
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (7, 40, 50), dtype=np.uint8)
    np.save(tmp_path / "grey.npy", grey)
    rgba = rng.integers(0, 256, (3, 32, 32, 4), dtype=np.uint8)
    np.savez(tmp_path / "many.npz", other=np.zeros(3), frames=rgba)
    assert load_frame_batch(tmp_path / "grey.npy", 64).frames.shape == (7, 64, 64, 3)
    assert load_frame_batch(tmp_path / "many.npz", 64).frames.shape == (3, 64, 64, 3)
    np.save(tmp_path / "float.npy", grey.astype(np.float32))
    with pytest.raises(FrameReadError, match="uint8"):
        load_frame_batch(tmp_path / "float.npy", 64)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FrameReadError, match="not a plain NumPy array"):
        load_frame_batch(tmp_path / "objects.npy", 64)
    np.save(tmp_path / "shape.npy", np.zeros((2, 8, 8, 2), np.uint8))
    with pytest.raises(FrameReadError, match="expected shape"):
        load_frame_batch(tmp_path / "shape.npy", 64)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FrameReadError, match="cannot read"):
        load_frame_batch(tmp_path / "junk.npz", 64)


def test_large_batches_are_sampled_evenly(tmp_path):
    np.save(tmp_path / "many.npy", np.zeros((50, 8, 8), np.uint8))
    batch = load_frame_batch(tmp_path / "many.npy", 32, max_frames=10)
    assert len(batch.frames) == 10 and batch.total == 50 and batch.sampled
    assert batch.names[0] == "many.npy[0]" and batch.names[-1] == "many.npy[49]"


# image statistics ----------------------------------------------------------------------------------------
def test_image_statistics_measure_what_they_say():
    rng = np.random.default_rng(3)
    frames = frame_batch(16, rng, 96)
    base = image_statistics(frames)
    flat = np.full((1, 64, 64, 3), 120, np.uint8)
    s = image_statistics(flat)
    assert s["brightness"][0] == pytest.approx(120, abs=0.5) and s["contrast"][0] == pytest.approx(0, abs=1e-3)
    assert s["sharpness"][0] == pytest.approx(0, abs=1e-6) and s["colourfulness"][0] == pytest.approx(0, abs=1e-3)
    # Immerkaer's estimate recovers the noise level of a flat image with Gaussian noise.
    noisy = np.clip(120 + rng.normal(0, 10, (4, 128, 128, 1)).repeat(3, axis=3), 0, 255).astype(np.uint8)
    assert np.median(image_statistics(noisy)["noise"]) == pytest.approx(10, rel=0.1)
    blurred = image_statistics(gaussian_blur(frames, 2.0))
    assert relative_change(base["sharpness"], blurred["sharpness"]) < -0.8
    darker = image_statistics((frames * 0.5).astype(np.uint8))
    assert relative_change(base["brightness"], darker["brightness"]) == pytest.approx(-0.5, abs=0.02)
    grey = frames.mean(axis=3, keepdims=True).repeat(3, axis=3).astype(np.uint8)
    assert image_statistics(grey)["colourfulness"].max() < 1


def test_mmd_is_calibrated_and_has_power():
    rng = np.random.default_rng(4)
    null = [mmd_test(rng.normal(size=(150, 6)), rng.normal(size=(64, 6)), 100, seed=i).p_value < 0.05
            for i in range(200)]
    assert np.mean(null) <= 0.09  # nominal 5%; 200 tests put the 95% band at about 2-8%
    shifted = []
    for i in range(40):
        y = rng.normal(size=(64, 6))
        y[:, 0] += 0.8
        shifted.append(mmd_test(rng.normal(size=(150, 6)), y, 100, seed=i).p_value < 0.05)
    assert np.mean(shifted) >= 0.9


def test_pca_and_distance_calibration():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 20)) * np.linspace(5, 0.1, 20)
    pca = PCA.fit(x, 4)
    assert pca.components.shape == (4, 20)
    assert np.allclose(pca.components @ pca.components.T, np.eye(4), atol=1e-8)
    assert pca.explained_variance_ratio[0] > pca.explained_variance_ratio[3]
    p99 = mean_distance_null(x, 64)
    healthy = [np.linalg.norm(x[rng.choice(500, 64, replace=False)].mean(0) - x.mean(0)) for _ in range(200)]
    assert np.mean(np.array(healthy) > p99) < 0.05
