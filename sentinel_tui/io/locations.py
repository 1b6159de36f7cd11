"""Where a reference or a batch lives: a local path or a URL (``s3://``, ``gs://``, ``memory://``, ``file://``...).

URLs go through fsspec, so every filesystem it knows works once its package is installed (``s3fs`` for s3://:
the ``s3`` extra). Credentials come only from each filesystem's own standard configuration (for S3 the AWS
environment variables, ``~/.aws``, instance roles; an endpoint through ``AWS_ENDPOINT_URL`` or fsspec's
``FSSPEC_S3_ENDPOINT_URL``); nothing here reads, stores or prints them, and a URL is shown without any
``user:password@`` part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow.fs as pafs

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


class LocationError(Exception):
    """A location that cannot be opened; ``reason`` is one sentence (never holding credentials)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MissingFilesystem(LocationError):
    """A URL whose filesystem package is not installed: a setup problem of the monitor, not of the data."""


# What to install for a scheme (``fsspec.registry.known_implementations`` names the package; this the extra).
_PACKAGES = {"s3": "s3fs: the s3 extra (from the repository: pip install '.[s3]')",
             "s3a": "s3fs: the s3 extra (from the repository: pip install '.[s3]')",
             "gs": "gcsfs (pip install gcsfs)", "gcs": "gcsfs (pip install gcsfs)",
             "az": "adlfs (pip install adlfs)", "abfs": "adlfs (pip install adlfs)",
             "memory": "fsspec: the s3 or dask extra (from the repository: pip install '.[s3]')"}


def is_url(text: str | Path) -> bool:
    return isinstance(text, str) and _SCHEME.match(text) is not None


def shown(text: str | Path) -> str:
    """A location as it may be printed: any ``user:secret@`` part of a URL removed."""
    return _USERINFO.sub(r"\1", str(text))


@dataclass(frozen=True)
class Location:
    """A resolved location: the pyarrow filesystem to read it with and the path inside that filesystem."""

    text: str  # as given (credentials removed)
    filesystem: pafs.FileSystem
    path: str

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1] or self.text

    @property
    def is_local(self) -> bool:
        return self.filesystem.type_name == "local"

    def info(self) -> pafs.FileInfo:
        try:
            return self.filesystem.get_file_info(self.path)
        # Any filesystem package can raise anything (botocore's ParamValidationError is no OSError): for a
        # batch that is a finding, not a crash of the monitor.
        except Exception as exc:  # noqa: BLE001
            raise LocationError(f"cannot reach {self.text}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return shown(text[0]) if text else type(exc).__name__


def resolve(text: str | Path) -> Location:
    """The filesystem and path of a local path or a URL. Raises ``LocationError`` naming what is missing
    (an fsspec implementation such as s3fs) rather than a traceback."""
    import pyarrow.fs as pafs  # 25 ms: only when a location is opened (a CSV check never does)

    if not is_url(text):
        return Location(str(text), pafs.LocalFileSystem(), str(Path(text).absolute()))
    scheme = _SCHEME.match(str(text)).group(1).lower()
    if _USERINFO.match(str(text)):
        raise LocationError(f"{shown(text)}: credentials in a URL are not accepted (they would end up in reports "
                            "and shell history); use the filesystem's own configuration (for S3: AWS_* "
                            "environment variables, ~/.aws or an instance role)")
    if scheme == "file":
        path = str(text)[len("file://"):]
        return Location(shown(text), pafs.LocalFileSystem(), path)
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(str(text))
    except ImportError as exc:
        needed = _PACKAGES.get(scheme, "fsspec and the filesystem package for them")
        raise MissingFilesystem(f"{shown(text)}: {scheme}:// URLs need {needed} ({_first_line(exc)})") from exc
    except Exception as exc:  # noqa: BLE001 (see Location.info)
        raise LocationError(f"{shown(text)}: {_first_line(exc)}") from exc
    return Location(shown(text), pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path)
