"""MobileNetV2 frame embeddings (TensorFlow). The only module that imports TensorFlow, on first use.

The model is ``tf.keras.applications.MobileNetV2`` without its top. A frame's embedding is the global average of
the activations at several depths (``LAYERS``: from the first convolution to the last, 2,320 values), not only
the last one: with randomly initialised weights the last layer barely moves when frames are blurred, darkened
or flattened (the verdict caught 0-2% of such batches), while the early layers, which respond to edges and
light, move a lot. Baselines built from the last layer alone (1280 values) keep being compared that way.
Inference runs through one ``tf.function`` with a fixed input signature (uint8 frames in, the MobileNetV2
preprocessing inside the graph), called on chunks: ``model.predict`` in a loop re-enters Keras' data pipeline
on every call and is several times slower on a CPU.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentinel_tui.frames.frame_reference import weights_sha256

MODEL_NAME = "MobileNetV2"
EMBEDDING_DIM = 1280  # the last layer's pooled activations (baselines of one depth)
# The depths pooled into the embedding: the first convolution, the expansions at 112, 56, 28 and 14 px (224 px
# input) and the last layer. Pooling them costs 8-12% of the model's throughput (bench_frames).
LAYERS = ("Conv1_relu", "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
          "block_13_expand_relu", "out_relu")
INSTALL_HINT = ("frame batches need the 'frames' extra (TensorFlow and Pillow): "
                "pip install 'sentinel-tui[frames]'  (pipx: pipx install --force 'sentinel-tui[frames]')")
_IMAGENET_ROWS = (96, 128, 160, 192, 224)


class FramesUnavailable(Exception):
    """TensorFlow or Pillow is not installed: frame batches cannot be analysed."""


class WeightsError(Exception):
    """Weights that cannot be loaded, or that differ from the ones a baseline was built with."""


def require_frames_extra() -> None:
    """Raise FramesUnavailable with the install command when the extra is missing."""
    try:
        import PIL  # noqa: F401
        _tf()
    except ImportError as exc:
        raise FramesUnavailable(f"{INSTALL_HINT} ({exc})") from exc


_IMPORT_LOCK = threading.Lock()


def _tf():
    """TensorFlow, imported once. TF_CPP_MIN_LOG_LEVEL=2 (unless the user set it: it only concerns TensorFlow)
    silences its C++ info and warning logs; the line or two its absl logging writes before that setting is
    read (oneDNN on) stay. Nothing else process-wide changes: the stderr file descriptor is left alone (no
    other thread's output is lost while TensorFlow loads), and Python's ``random``, which modules imported
    on the way draw from (rich's ``style``), is put back as it was. The dashboard imports it through
    ``preload`` before it takes over the terminal."""
    import sys

    tf = sys.modules.get("tensorflow")
    if tf is not None:
        return tf
    with _IMPORT_LOCK:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        state = random.getstate()
        try:
            import tensorflow as tf
        finally:
            random.setstate(state)
        tf.constant(0)  # device set-up (and its logs) now, not in the middle of the first batch
    return tf


def preload() -> bool:
    """Import TensorFlow now if it is installed (False if not)."""
    try:
        _tf()
    except ImportError:
        return False
    return True


def keras_cache_weights(input_size: int) -> Path:
    """Where Keras keeps MobileNetV2's ImageNet no-top weights for this input size (KERAS_HOME aware)."""
    rows = input_size if input_size in _IMAGENET_ROWS else 224
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return home / "models" / f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"


def resolve_weights(spec: str, input_size: int) -> tuple[str, str | None]:
    """(kind, path) for a weights setting: kind is imagenet, random or file. Never touches the network
    unless ``spec`` is "imagenet" and the weights are not cached."""
    if spec == "random":
        return "random", None
    if spec in ("auto", "imagenet"):
        cached = keras_cache_weights(input_size)
        if cached.is_file():
            return "imagenet", str(cached)
        return ("imagenet", None) if spec == "imagenet" else ("random", None)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {spec} not found")
    return "file", str(path)


@dataclass
class Embedder:
    model: object  # keras.Model
    fn: object  # the compiled tf.function
    input_size: int
    batch_size: int
    sha256: str
    _lock: threading.Lock
    dims: tuple[int, ...] = (EMBEDDING_DIM,)  # values per pooled depth, in order

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, sum(dims)) float32."""
        tf = _tf()
        if frames.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(f"frames of shape {frames.shape[1:]} given to a {self.input_size}px model")
        out = np.empty((frames.shape[0], sum(self.dims)), dtype=np.float32)
        # One caller at a time: TensorFlow already uses every core for one call.
        with self._lock:
            for start in range(0, frames.shape[0], self.batch_size):
                chunk = frames[start:start + self.batch_size]
                out[start:start + chunk.shape[0]] = self.fn(tf.constant(chunk)).numpy()
        return out


_BUILD_LOCK = threading.Lock()


def _build_model(input_size: int, weights: str | None, seed: int):
    """MobileNetV2; with ``weights`` None, its kernels drawn from ``seed`` alone (``_seed_kernels``).

    Keras draws a seed for every random initialiser it constructs from Python's global ``random`` (one
    ``random.randint`` per convolution, even for weights that are loaded next); the generator's state is put
    back afterwards, so building a model leaves the caller's ``random`` sequence as it was (another thread
    drawing from it during the build would see those draws again; nothing in Sentinel uses it). NumPy's
    global generator and TensorFlow's global seed are not used at all."""
    tf = _tf()
    with _BUILD_LOCK:
        state = random.getstate()
        try:
            model = tf.keras.applications.MobileNetV2(input_shape=(input_size, input_size, 3), include_top=False,
                                                      weights=weights, pooling="avg")
        finally:
            random.setstate(state)
    if weights is None:
        _seed_kernels(model, seed)
    return model


# The random initialisers of MobileNetV2's layers and the attribute of the weight each fills (a depthwise
# kernel is ``kernel`` in Keras 3, ``depthwise_kernel`` in Keras 2); batch norm's initialisers are constants.
_RANDOM_WEIGHTS = {"kernel_initializer": ("kernel",), "depthwise_initializer": ("kernel", "depthwise_kernel")}


def _seed_kernels(model, seed: int) -> None:
    """Fill every randomly initialised weight again with its layer's own initialiser given an explicit seed.

    The seeds come from a generator of this function's own, ``random.Random(seed)``, one per initialiser in
    layer order: the very seeds Keras drew when ``keras.utils.set_random_seed(seed)`` had reseeded the whole
    process for it, so a seed gives the same weights (and weights hash) as it did then. Seeded initialisers
    are stateless: nothing global is read or advanced. An initialiser this does not know how to seed is an
    error, not a silently unreproducible model."""
    keras = _tf().keras
    seeds = random.Random(seed)
    for layer in model.layers:
        for key, spec in layer.get_config().items():
            if not (key.endswith("_initializer") and isinstance(spec, dict) and "seed" in spec.get("config", {})):
                continue  # not an initialiser, or a constant one (zeros, ones)
            if key not in _RANDOM_WEIGHTS:
                raise RuntimeError(f"{layer.name}: cannot seed its {key} ({spec.get('class_name')})")
            initializer = keras.initializers.get({**spec, "config": {**spec["config"],
                                                                     "seed": seeds.randint(1, int(1e9))}})
            variable = next(v for v in (getattr(layer, a, None) for a in _RANDOM_WEIGHTS[key]) if v is not None)
            variable.assign(initializer(tuple(variable.shape), variable.dtype))


def _wrap(model, input_size: int, batch_size: int, sha: str | None = None,
          layers: tuple[str, ...] | None = None) -> Embedder:
    """The embedder around a built model: its compiled function and the hash of its weights. ``layers``: the
    depths whose pooled activations make the embedding (None: the model's own pooled output)."""
    sha = sha or weights_sha256([np.asarray(w) for w in model.get_weights()])
    fn, dims = _compile(model, input_size, layers)
    return Embedder(model, fn, input_size, batch_size, sha, threading.Lock(), dims)


def _compile(model, input_size: int, layers: tuple[str, ...] | None):
    tf = _tf()
    net, dims = model, (EMBEDDING_DIM,)
    if layers:
        try:
            taps = [model.get_layer(name).output for name in layers]
        except ValueError as exc:
            raise WeightsError(f"this MobileNetV2 has no layer the baseline pools: {exc}") from exc
        pool = tf.keras.layers.GlobalAveragePooling2D()
        net = tf.keras.Model(model.input, [pool(t) for t in taps])
        dims = tuple(int(t.shape[-1]) for t in taps)

    @tf.function(input_signature=[tf.TensorSpec([None, input_size, input_size, 3], tf.uint8)])
    def fn(x):
        # keras.applications.mobilenet_v2.preprocess_input: scale pixels to [-1, 1].
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        out = net(x, training=False)
        return tf.concat(out, axis=1) if layers else out

    return fn, dims


def calibrate_batchnorm(model, frames: np.ndarray, chunk: int = 16) -> None:
    """Set every batch-norm layer's statistics to those of its inputs on ``frames``.

    In training mode each layer normalises with the statistics of the batch it sees, which is what
    inference does afterwards with the stored ones; setting the momentum of chunk k to (k - 1) / k makes the
    stored mean and variance the average over the chunks. This data-dependent initialisation keeps
    activations at unit scale through the random network instead of shrinking them layer after layer.
    Chunks keep memory bounded: one training-mode pass over 128 frames at 224 px holds 12 GB.
    """
    tf = _tf()
    bns = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in bns]
    try:
        for k, start in enumerate(range(0, len(frames), chunk), start=1):
            for layer in bns:
                layer.momentum = (k - 1) / k
            x = tf.cast(tf.constant(frames[start:start + chunk]), tf.float32) / 127.5 - 1.0
            model(x, training=True)
    finally:
        for layer, m in zip(bns, saved, strict=True):
            layer.momentum = m


def new_embedder(input_size: int, weights_spec: str, seed: int, batch_size: int,
                 calibration: np.ndarray | None, layers: tuple[str, ...] | None = LAYERS) -> tuple[Embedder, dict]:
    """A fresh embedder for building a baseline, and the model identity the baseline records."""
    try:
        tf = _tf()
    except ImportError as exc:
        raise FramesUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    kind, path = resolve_weights(weights_spec, input_size)
    if kind == "file":
        model = _build_model(input_size, None, seed)
        try:
            model.load_weights(path)
        except Exception as exc:  # h5py/Keras raise many kinds for a wrong file
            raise WeightsError(f"cannot load weights from {path}: {exc}") from exc
        source = f"file {Path(path).name}"
    elif kind == "imagenet":
        try:
            model = _build_model(input_size, path or "imagenet", seed)
        except Exception as exc:  # offline without a cached copy
            raise WeightsError(f"ImageNet weights are not cached ({keras_cache_weights(input_size)}) and could "
                               f"not be downloaded: {exc}; use --weights random or a weights file") from exc
        source = "imagenet"
    else:
        model = _build_model(input_size, None, seed)
        calibrated = 0
        if calibration is not None and len(calibration):
            calibrate_batchnorm(model, calibration)
            calibrated = len(calibration)
        source = f"random (seed {seed}, batch norm calibrated on {calibrated} reference frames)"
    embedder = _wrap(model, input_size, batch_size, layers=layers)
    identity = {"name": MODEL_NAME, "pooling": "avg", **({"layers": list(layers)} if layers else {}),
                "layer_dims": list(embedder.dims), "dim": sum(embedder.dims), "input_size": input_size,
                "weights": source, "weights_kind": kind, "weights_sha256": embedder.sha256,
                "tensorflow": tf.__version__,
                "keras": tf.keras.__version__ if hasattr(tf.keras, "__version__") else None}
    return embedder, identity


_CACHE: dict[tuple[str, int, tuple[str, ...] | None], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def embedder_for(weights: list[np.ndarray], expected_sha: str, input_size: int, batch_size: int,
                 layers: tuple[str, ...] | None = None) -> Embedder:
    """The embedder for a baseline's stored weights and pooled depths (built once per process and reused). The
    weights are hashed here, so a baseline whose weights file was altered is refused, not compared."""
    sha = weights_sha256(weights)
    key = (sha, input_size, layers)
    with _CACHE_LOCK:
        if sha != expected_sha:
            raise WeightsError(f"the stored embedder weights (sha256 {sha[:12]}…) are not the ones the reference "
                               f"embeddings were computed with ({expected_sha[:12]}…); embeddings from other "
                               "weights are not comparable: rebuild the baseline")
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        try:
            _tf()
        except ImportError as exc:
            raise FramesUnavailable(f"{INSTALL_HINT} ({exc})") from exc
        model = _build_model(input_size, None, 0)
        try:
            model.set_weights(weights)
        except ValueError as exc:
            raise WeightsError(f"the stored weights do not fit MobileNetV2 at {input_size}px: {exc}") from exc
        emb = _CACHE[key] = _wrap(model, input_size, batch_size, sha, layers)
        return emb
