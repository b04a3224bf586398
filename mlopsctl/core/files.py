"""Files: written so that a reader never sees half of one, JSON in one canonical form, and
digests read in one pass."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlopsctl.errors import BadInput


def write_atomic(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def canonical_json(value: object) -> bytes:
    """The one canonical form: sorted keys, no spaces, UTF-8 (what digests are taken of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_json(path: Path, value: object) -> None:
    """A JSON file for people and diffs (sorted keys, indented, final newline), atomically."""
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def file_digests(path: Path, *algorithms: str) -> dict[str, str]:
    """Hex digests of a file for each algorithm (md5, sha256, ...), read once in 1 MiB blocks."""
    hashes = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            for digest in hashes.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def sha256_file(path: Path) -> str:
    return file_digests(path, "sha256")["sha256"]


def load_yaml(text: str, name: str) -> Any:
    """`text` (the content of the file `name`) parsed as YAML; invalid YAML is bad input
    naming the file and the line."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise BadInput(
            f"{name} is not valid YAML{where}: {problem}",
            f"fix it, or restore the committed one with `git checkout -- {name}`",
        ) from exc


@contextlib.contextmanager
def temporary_folder(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder `PREFIX<pid>-<random>` (in `parent`, else the temp directory),
    removed at the end. Folders of the same prefix whose process is gone (killed with
    kill -9, where no cleanup runs) are removed first: the next run cleans up."""
    import shutil

    where = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    for old in where.glob(f"{glob.escape(prefix)}*"):
        pid = old.name[len(prefix) :].split("-", 1)[0]
        if old.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    where.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=where))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
