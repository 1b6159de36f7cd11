"""The README's "Beyond one machine" block, as written: a scheduler and workers started in the background, a
baseline profiled on them from a Parquet dataset on S3 (a real S3-compatible server on 127.0.0.1), and a batch
checked on a LocalCluster."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentinel_tui.simulate.tabular import generate

from .s3_server import s3_server, upload
from .test_readme import RUN, block, environment


def _dataset(root, rows: int, files: int, rng) -> None:
    root.mkdir()
    df = generate(rows, rng)
    for i, chunk in enumerate(np.array_split(np.arange(rows), files)):
        pq.write_table(pa.Table.from_pandas(df.iloc[chunk], preserve_index=False), root / f"part-{i}.parquet")


@pytest.mark.slow
def test_readme_scale(tmp_path):
    rng = np.random.default_rng(17)
    _dataset(tmp_path / "reference", 20_000, 4, rng)
    _dataset(tmp_path / "batch", 3_000, 2, rng)
    commands = block("dask scheduler &")
    assert len(commands) == 4 and all(c in RUN for c in commands)
    script = "\n".join(f'{c}\n__rc=$?; echo "::rc $__rc" >&2' for c in commands)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with s3_server() as s3:
        upload(s3, tmp_path / "reference", "s3://models/credit/reference")
        upload(s3, tmp_path / "batch", "s3://models/credit/batches/2026-12-01")
        with out.open("w") as o, err.open("w") as e:
            # files, not pipes: the background scheduler and workers would hold pipes open
            proc = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=environment(**s3), stdout=o,
                                    stderr=e, start_new_session=True)
            try:
                proc.wait(timeout=420)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)  # the scheduler and workers it left running
    stderr = err.read_text()
    codes = [int(m) for m in re.findall(r"^::rc (\d+)$", stderr, re.M)]
    assert codes[:3] == [0, 0, 0] and codes[3] in (0, 1), stderr[-3000:]  # a healthy batch: no critical
    assert "Traceback" not in stderr
    baseline = json.loads((tmp_path / "baselines" / "credit" / "baseline.json").read_text())
    assert baseline["source"]["engine"] == "dask" and baseline["source"]["rows"] == 20_000
    assert "OK" in out.read_text() or "WARNING" in out.read_text()
