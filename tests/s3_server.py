"""A real S3-compatible server on 127.0.0.1 for the object-storage tests: moto in server mode, as a subprocess.

Nothing leaves the machine: the AWS environment handed to the code under test points at this server through
``AWS_ENDPOINT_URL`` (the standard variable botocore reads), with throwaway credentials.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .helpers import wait_until

SECRET = "s3cr3t-never-printed-9f2c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """Start moto's server; yield the environment that reaches it; stop it (and check it stopped)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    def answers() -> bool:
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 (our own server on 127.0.0.1)
            return True
        except OSError:
            return False

    try:
        if not wait_until(lambda: answers() or proc.poll() is not None, timeout=60) or proc.poll() is not None:
            raise RuntimeError("moto server did not start")
        yield {"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": url, "AWS_EC2_METADATA_DISABLED": "true"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def upload(env: dict[str, str], local: Path, url: str) -> None:
    """Copy a local file or directory tree to ``s3://bucket/key`` (creating the bucket)."""
    import s3fs

    with environment(env):
        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        bucket = url[len("s3://"):].split("/", 1)[0]
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        key = url[len("s3://"):].rstrip("/")
        files = [local] if local.is_file() else sorted(f for f in local.rglob("*") if f.is_file())
        for f in files:
            fs.put_file(str(f), key if local.is_file() else f"{key}/{f.relative_to(local).as_posix()}")
