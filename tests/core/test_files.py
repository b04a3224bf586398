from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlopsctl.core.files import write_atomic


def test_write_atomic_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_temporary_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path: Path) -> None:
    import subprocess

    from mlopsctl.core.files import temporary_folder

    # a process that is gone (run and reaped): its pid names the folder it left behind
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"mlopsctl-build-{dead.pid}-abc"
    (left / "blobs").mkdir(parents=True)
    (left / "blobs" / "layer").write_bytes(b"x" * 1024)
    alive = tmp_path / f"mlopsctl-build-{os.getpid()}-def"  # a run still going: kept
    alive.mkdir()
    other = tmp_path / "mlopsctl-buildx-1-ghi"  # another prefix: not ours to touch
    other.mkdir()

    with temporary_folder("mlopsctl-build-", tmp_path) as work:
        assert work.is_dir() and work.name.startswith(f"mlopsctl-build-{os.getpid()}-")
        assert not left.exists()
        assert alive.exists() and other.exists()
    assert not work.exists()
