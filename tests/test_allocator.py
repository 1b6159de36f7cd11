"""The malloc setting (engine/allocator.py) is process-wide, so it is a switch a user can turn off."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from sentinel_tui.engine.allocator import DISABLE_ENV

CHILD = "from sentinel_tui.engine.allocator import tune_allocator; print(tune_allocator(), tune_allocator())"


def _in_fresh_process(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    return subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                          env={**clean, **env}).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_the_malloc_setting_applies_unless_switched_off():
    assert _in_fresh_process() == "True True"
    assert _in_fresh_process(**{DISABLE_ENV: "0"}) == "True True"
    assert _in_fresh_process(**{DISABLE_ENV: "1"}) == "False False"
