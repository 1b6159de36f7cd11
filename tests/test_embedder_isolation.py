"""Building a frame embedder changes nothing of the process around it: Python's and NumPy's global random
sequences go on as they would have, stderr stays the same open file (nothing written to it is lost while
TensorFlow loads), and the embeddings still depend on the seed alone."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the frames extra is not installed (make test installs it)")
pytestmark = pytest.mark.frames

# A fresh interpreter, so that importing TensorFlow is part of what is checked.
CHILD = r"""
import json, os, random, sys, threading, time
import numpy as np

assert "tensorflow" not in sys.modules
random.seed(11)
np.random.seed(12)
python_state, numpy_state = random.getstate(), np.random.get_state()
before = os.fstat(2)

# Another thread writes to stderr all along: every line must arrive.
written, stop = [], threading.Event()
def chatter():
    while not stop.is_set():
        line = f"chatter-{len(written)}"
        os.write(2, (line + "\n").encode())
        written.append(line)
        time.sleep(0.005)
thread = threading.Thread(target=chatter)
thread.start()
from sentinel_tui.frames.embedder import LAYERS, embedder_for, new_embedder

frames = np.random.default_rng(0).integers(0, 256, (32, 96, 96, 3), dtype=np.uint8)
a, _ = new_embedder(96, "random", 7, 16, frames)
stop.set()
thread.join()
b, _ = new_embedder(96, "random", 7, 16, frames)
other, _ = new_embedder(96, "random", 8, 16, frames)
stored = embedder_for([np.asarray(w) for w in a.model.get_weights()], a.sha256, 96, 16, LAYERS)
after = os.fstat(2)

numpy_now = np.random.get_state()
print(json.dumps({
    "python_state_kept": random.getstate() == python_state,
    "numpy_state_kept": bool(numpy_now[0] == numpy_state[0] and np.array_equal(numpy_now[1], numpy_state[1])
                             and numpy_now[2:] == numpy_state[2:]),
    "python_next": [random.random() for _ in range(3)],
    "numpy_next": np.random.random(3).tolist(),
    "stderr_file": [before.st_dev, before.st_ino, after.st_dev, after.st_ino],
    "written": written,
    "same_seed_same_weights": a.sha256 == b.sha256,
    "same_seed_same_embeddings": bool(np.array_equal(a.embed(frames), b.embed(frames))),
    "stored_weights_same_embeddings": bool(np.array_equal(a.embed(frames), stored.embed(frames))),
    "other_seed_other_weights": a.sha256 != other.sha256,
}))
"""


def test_building_an_embedder_leaves_global_random_state_and_stderr_alone():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    expected_python = random.Random(11)
    expected_numpy = np.random.RandomState(12)
    assert out["python_state_kept"] and out["numpy_state_kept"]
    assert out["python_next"] == [expected_python.random() for _ in range(3)]
    assert out["numpy_next"] == expected_numpy.random_sample(3).tolist()

    dev, ino, dev_after, ino_after = out["stderr_file"]
    assert (dev, ino) == (dev_after, ino_after)
    assert len(out["written"]) > 10  # the thread ran while TensorFlow was imported and the models built
    arrived = set(re.findall(r"chatter-\d+", done.stderr))
    missing = [line for line in out["written"] if line not in arrived]
    assert not missing, f"{len(missing)} of {len(out['written'])} lines written to stderr were lost"

    assert out["same_seed_same_weights"] and out["same_seed_same_embeddings"]
    assert out["stored_weights_same_embeddings"] and out["other_seed_other_weights"]
