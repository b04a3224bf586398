from __future__ import annotations

import fcntl
import io
import os
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

# wheels and dependency layers are kept between runs (pip's own cache stays where it is)
CACHE = Path(os.environ.get("MLOPSCTL_TEST_CACHE") or Path.home() / ".cache" / "mlopsctl-test")


def made_once(path: Path, make: Callable[[Path], None]) -> Path:
    """`path`, made by `make(part)` unless it exists; one maker at a time (test workers, or
    two runs, share CACHE), each waiting on a lock beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            part = path.with_name(f".{path.stem}.part{path.suffix}")  # mmdebstrap: by suffix
            make(part)
            part.replace(path)
    return path


def fake_rootfs(path: Path, python: str) -> Path:
    """A root filesystem tar with the files a build looks at (it runs nothing in it)."""
    with tarfile.open(path, "w") as tar:
        for name in ("usr", "usr/bin", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        data = b"#!/bin/false\n"
        info = tarfile.TarInfo(f"usr/bin/python{python}")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="session")
def small_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    minor = f"3.{sys.version_info.minor}"
    return fake_rootfs(tmp_path_factory.mktemp("base") / "rootfs.tar", minor)


@pytest.fixture(scope="session")
def build_env() -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": str(CACHE / "xdg")}


from tests.serving.conftest import test_rows  # noqa: E402, F401  (the project's held-out rows)
