"""What a directory entry is, and opening only regular files.

A watched directory is written by other systems and sometimes by people: a FIFO blocks ``open()`` for ever, a
link to ``/dev/zero`` never ends, a link to a file elsewhere leaks its content into reports and webhooks. Every
batch is opened through ``open_regular``: without following a final symbolic link (unless asked), without
blocking on a FIFO, and refused unless it is a regular file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegular(OSError):
    """The entry is a FIFO, socket, device, directory or a symbolic link that is not followed."""

    def __init__(self, path: str | Path, kind: str):
        super().__init__(f"{kind}, not a regular file")
        self.kind = kind
        self.path = str(path)


def kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def open_regular(path: str | Path, follow_symlinks: bool = True) -> BinaryIO:
    """Open ``path`` for reading if, and only if, it is a regular file (raises NotRegular otherwise)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):
            raise NotRegular(path, "symbolic link") from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(path, kind_of(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` (links resolved) lies inside ``root`` (links resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True
