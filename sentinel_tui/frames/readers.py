"""Frame batches: a directory of images, or one ``.npy``/``.npz`` array of frames, as model-ready RGB.

Every frame is converted to 8-bit RGB (grey replicated, alpha and palettes resolved, 16-bit scaled) and
resized to ``size`` x ``size`` (bilinear, the whole frame, aspect ratio not kept, as Keras applications
expect). A frame that cannot be used is reported by name with the reason, and the rest of the batch is
still analysed. Pillow is imported on first use: tabular monitoring never pays for it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sentinel_tui.io.entries import open_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
ARRAY_SUFFIXES = (".npy", ".npz")
READY_MARKER = "_READY"
PREPROCESSING = "RGB 8-bit (grey replicated, alpha dropped, 16-bit scaled), bilinear resize of the whole frame"


class FrameReadError(Exception):
    """A frame batch that cannot be used at all (the reason is shown to the user)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class FrameBatch:
    frames: np.ndarray  # (N, size, size, 3) uint8
    names: list[str]
    source_sizes: list[tuple[int, int]]  # (width, height) before resizing
    problems: list[tuple[str, str]] = field(default_factory=list)  # (frame name, reason) of skipped frames
    total: int = 0  # frames found, before skipping and sampling
    sampled: bool = False  # more than max_frames: an evenly spaced subset was used


def is_array_batch(path: Path) -> bool:
    return path.name.lower().endswith(ARRAY_SUFFIXES)


def image_files(directory: Path) -> list[Path]:
    """The images of a frame directory (not hidden ones), sorted by name: the batch's frame order."""
    out = []
    for entry in os.scandir(directory):
        name = entry.name
        if name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES):
            continue
        if entry.is_file(follow_symlinks=False):  # a link could lead outside the watched directory
            out.append(Path(entry.path))
    return sorted(out, key=lambda p: p.name)


def _to_rgb(im):
    """Any Pillow mode to 8-bit RGB."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or (im.mode == "I" and a.max(initial=0) > 255) else 255.0
        a = np.clip(a * (255.0 / peak), 0, 255).astype(np.uint8)
        im = Image.fromarray(a, mode="L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return im if im.mode == "RGB" else im.convert("RGB")


def _resize(rgb, size: int) -> np.ndarray:
    from PIL import Image

    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(rgb, dtype=np.uint8)


def load_image(path: Path, size: int, max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """One image file as (size, size, 3) uint8; raises FrameReadError with the reason."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            # Checked before decoding: a small file can declare a huge canvas (a decompression bomb).
            if w * h > max_pixels:
                raise FrameReadError(f"{w}x{h} pixels ({w * h / 1e6:.0f} MP) exceeds the limit of "
                                     f"{max_pixels / 1e6:.0f} MP (frames.max_pixels): refused as a "
                                     "possible decompression bomb")
            if im.format == "JPEG":
                im.draft("RGB", (size, size))  # decode at a reduced scale: much faster for large photos
            return _resize(_to_rgb(im), size), (w, h)
    except FrameReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise FrameReadError(f"refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError:
        raise FrameReadError("not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated data, bad chunks, broken headers
        raise FrameReadError(f"cannot decode image: {exc}") from exc


def load_images(paths: list[Path], size: int, max_pixels: int) -> list[tuple[np.ndarray, tuple[int, int]] | str]:
    """Each image as (frame, source size), or the reason it cannot be used, in the order given."""

    def one(f: Path) -> tuple[np.ndarray, tuple[int, int]] | str:
        try:
            return load_image(f, size, max_pixels)
        except FrameReadError as exc:
            return exc.reason

    # Pillow releases the GIL while decoding and resizing: a small pool decodes on every core.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, paths))


def _check_shape(shape: tuple, dtype: np.dtype) -> None:
    if dtype != np.uint8:
        raise FrameReadError(f"frames must be uint8, got {dtype}")
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3, 4)):
        raise FrameReadError(f"expected shape (N, H, W) or (N, H, W, C) with C in 1, 3, 4; got {shape}")
    if shape[1] < 3 or shape[2] < 3:
        raise FrameReadError(f"frames of {shape[2]}x{shape[1]} pixels are too small")


def _npy_header(fp) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of a .npy stream positioned at its start; leaves it at the data."""
    fmt = np.lib.format
    version = fmt.read_magic(fp)
    return fmt.read_array_header_1_0(fp) if version == (1, 0) else fmt.read_array_header_2_0(fp)


def _check_size(shape: tuple, max_frames: int, max_pixels: int, max_bytes: int | None) -> None:
    """Refuse from the header alone, before anything is allocated: frames over ``max_pixels``, or more sampled
    frame bytes than one batch may take in memory."""
    if shape[1] * shape[2] > max_pixels:
        raise FrameReadError(f"frames of {shape[2]}x{shape[1]} exceed the limit of {max_pixels / 1e6:.0f} MP "
                             "(frames.max_pixels)")
    kept = min(shape[0], max_frames) * int(np.prod(shape[1:]))
    if max_bytes is not None and kept > max_bytes:
        raise FrameReadError(f"{min(shape[0], max_frames)} sampled frames need {kept / 1e9:.1f} GB, over the "
                             f"{max_bytes / 1e9:.1f} GB limit for one batch (input.max_batch_memory_mb)")


def _npz_member(zf) -> tuple[str, tuple, np.dtype]:
    """The frames member of an .npz archive: its name, shape and dtype, from its header only; nothing is
    inflated yet (a 28 MB archive can hold 6 GB of frames)."""
    names = [n for n in zf.namelist() if n.endswith(".npy")]
    if not names:
        raise FrameReadError("the .npz archive holds no arrays")
    name = "frames.npy" if "frames.npy" in names else names[0]
    with zf.open(name) as member:
        shape, fortran, dtype = _npy_header(member)
    if fortran:
        raise FrameReadError("Fortran-ordered arrays are not supported; save the frames C-ordered")
    return name, tuple(shape), np.dtype(dtype)


def _npz_selected(path: Path, max_frames: int, max_pixels: int, max_bytes: int | None
                  ) -> tuple[np.ndarray, list[int], int]:
    """Stream the archive's frames and keep only the evenly sampled ones: memory is bounded by ``max_frames``
    frames whatever the archive inflates to."""
    import zipfile

    # A regular file only (never a FIFO or a device), and the zip read from that very descriptor.
    with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
        name, shape, dtype = _npz_member(zf)
        _check_shape(shape, dtype)
        _check_size(shape, max_frames, max_pixels, max_bytes)
        total = shape[0]
        idx = _evenly(total, max_frames)
        frame_shape = shape[1:]
        frame_bytes = int(np.prod(frame_shape)) * dtype.itemsize
        out = np.empty((len(idx), *frame_shape), dtype=dtype)
        wanted = {i: j for j, i in enumerate(idx)}
        with zf.open(name) as member:
            _npy_header(member)  # skip to the data
            for i in range(idx[-1] + 1 if idx else 0):
                chunk = member.read(frame_bytes)
                if len(chunk) < frame_bytes:
                    raise FrameReadError(f"the archive ends after {i} of {total} frames (truncated)")
                j = wanted.get(i)
                if j is not None:
                    out[j] = np.frombuffer(chunk, dtype=dtype).reshape(frame_shape)
    return out, idx, total


def _array_frames(path: Path, max_frames: int, max_pixels: int, max_bytes: int | None
                  ) -> tuple[np.ndarray, list[int], int]:
    """The sampled frames of a .npy (memory-mapped) or .npz (streamed) array file, their indices and the
    total count. Memory is bounded by ``max_frames`` frames; only a regular file is read, never through a
    link swapped in after it was checked."""
    try:
        if path.name.lower().endswith(".npz"):
            arr, idx, total = _npz_selected(path, max_frames, max_pixels, max_bytes)
        else:
            with open_regular(path, follow_symlinks=False) as fh:
                # The descriptor already checked, never the name again.
                source = f"/proc/self/fd/{fh.fileno()}" if os.path.isdir("/proc/self/fd") else path
                arr = np.load(source, allow_pickle=False, mmap_mode="r")
            _check_shape(arr.shape, arr.dtype)
            _check_size(arr.shape, max_frames, max_pixels, max_bytes)
            total = arr.shape[0]
            idx = _evenly(total, max_frames)
    except FrameReadError:
        raise
    except ValueError as exc:
        # allow_pickle=False refuses object arrays, which could run code when unpickled.
        raise FrameReadError(f"not a plain NumPy array file ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise FrameReadError(f"cannot read array file: {exc}") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise FrameReadError(f"cannot read array file: {exc}") from exc
    if arr.ndim == 3:
        arr = arr[..., None]
    return arr, idx, total


def load_frame_batch(path: Path, size: int, *, max_frames: int = 4096,
                     max_pixels: int = 50_000_000, max_bytes: int | None = None) -> FrameBatch:
    """Load a frame directory or array file. Raises FrameReadError when no frame at all can be used."""
    from PIL import Image

    path = Path(path)
    if is_array_batch(path):
        arr, idx, total = _array_frames(path, max_frames, max_pixels, max_bytes)
        sampled_npz = path.name.lower().endswith(".npz")  # already only the sampled frames
        out = np.empty((len(idx), size, size, 3), dtype=np.uint8)
        for j, i in enumerate(idx):
            frame = np.asarray(arr[j if sampled_npz else i])
            if frame.shape[-1] == 1:
                frame = np.repeat(frame, 3, axis=-1)
            elif frame.shape[-1] == 4:
                frame = frame[..., :3]
            out[j] = _resize(Image.fromarray(np.ascontiguousarray(frame)), size)
        if not len(idx):
            raise FrameReadError("the array holds no frames")
        h, w = arr.shape[1], arr.shape[2]
        return FrameBatch(out, [f"{path.name}[{i}]" for i in idx], [(w, h)] * len(idx), total=total,
                          sampled=len(idx) < total)
    if not path.is_dir():
        raise FrameReadError("not a frame directory or .npy/.npz array")
    files = image_files(path)
    if not files:
        raise FrameReadError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the frame directory")
    idx = _evenly(len(files), max_frames)
    loaded = load_images([files[i] for i in idx], size, max_pixels)
    frames, names, sizes, problems = [], [], [], []
    for i, got in zip(idx, loaded, strict=True):
        if isinstance(got, str):
            problems.append((files[i].name, got))
            continue
        frames.append(got[0])
        names.append(files[i].name)
        sizes.append(got[1])
    if not frames:
        first = problems[0] if problems else ("", "no frames")
        raise FrameReadError(f"none of the {len(idx)} images could be used (first: {first[0]}: {first[1]})")
    return FrameBatch(np.stack(frames), names, sizes, problems, total=len(files), sampled=len(idx) < len(files))


def _evenly(total: int, cap: int) -> list[int]:
    if total <= cap:
        return list(range(total))
    return np.unique(np.linspace(0, total - 1, cap).round().astype(int)).tolist()
