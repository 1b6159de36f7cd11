"""A fresh clone of the working tree, for tests of what a new user gets (the README's commands, `make demo`).

``git clone`` would copy the last commit, not the work being tested; this copies what a clone of the working
tree would hold (tracked files as they are now, and new files that are not ignored) into a new repository with
one commit, so ``git status`` there shows exactly what a command changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.invalid", "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def is_checkout() -> bool:
    return shutil.which("git") is not None and (ROOT / ".git").exists()


def tracked_but_ignored(root: Path = ROOT) -> list[str]:
    """Tracked files that .gitignore also matches: a command that rewrites one dirties the checkout."""
    return git(root, "ls-files", "--cached", "--ignored", "--exclude-standard").split()


def fresh_clone(dest: Path) -> Path:
    files = [f for f in git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
             if f and (ROOT / f).is_file()]
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    git(dest, "init", "-q")
    for i in range(0, len(files), 200):  # forced: a tracked file may match .gitignore, as in the real checkout
        git(dest, "add", "-f", "--", *files[i:i + 200])
    git(dest, "commit", "-q", "--no-verify", "-m", "fresh clone")
    return dest


def status(clone: Path) -> str:
    """``git status --porcelain`` of the clone, ignored files left out (what a user sees as changed)."""
    return git(clone, "status", "--porcelain", "--untracked-files=all")
