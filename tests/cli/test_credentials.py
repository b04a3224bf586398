"""A token in a URL never reaches the screen: not in what `data pull`/`data push` print
(the image side is tests/image/test_credentials.py)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlopsctl.core.urls import without_credentials
from tests.conftest import dvc, git, mlopsctl

SECRET = "s3cr3t-t0ken"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://ci:{SECRET}@git.example.invalid/org/demo.git",
            "https://git.example.invalid/org/demo.git",
        ),
        (f"https://{SECRET}@git.example.invalid/demo", "https://git.example.invalid/demo"),
        (f"s3://key:{SECRET}@bucket/path", "s3://bucket/path"),
        ("https://git.example.invalid/demo.git", "https://git.example.invalid/demo.git"),
        ("git@github.com:org/demo.git", "git@github.com:org/demo.git"),  # an ssh user, no secret
        (
            f"cannot reach http://u:{SECRET}@127.0.0.1:1/x: refused",
            "cannot reach http://127.0.0.1:1/x: refused",
        ),
    ],
)
def test_urls_lose_their_credentials(url: str, shown: str) -> None:
    assert without_credentials(url) == shown


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_remote(folder: Path) -> Iterator[str]:
    """A DVC HTTP remote on loopback: the folder by GET (PUT is refused with 501)."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_data_pull_and_push_never_print_the_remotes_credentials(
    trained_project: Path, tmp_path: Path
) -> None:
    local_remote = Path(dvc("config", "remote.default.url", cwd=trained_project).stdout.strip())
    git("clone", "-q", str(trained_project), "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    with http_remote(local_remote) as host:
        dvc("remote", "add", "-d", "web", f"http://ci:{SECRET}@{host}/", cwd=clone)
        proc = mlopsctl("data", "pull", cwd=clone)
        assert proc.returncode == 0, proc.stderr
        assert "Pulled" in proc.stdout and f"(http://{host}/)" in proc.stdout
        assert SECRET not in proc.stdout + proc.stderr
        pulled = json.loads(mlopsctl("data", "pull", "--json", cwd=clone, check=True).stdout)
        assert pulled["url"] == f"http://{host}/"
        (clone / "data" / "raw" / "new.csv").write_text("a,b\n1,2\n")
        mlopsctl("data", "add", "data/raw/new.csv", cwd=clone, check=True)
        proc = mlopsctl("data", "push", cwd=clone)  # the server refuses uploads
        assert proc.returncode == 3 and "Traceback" not in proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
    with http_remote(tmp_path / "empty") as host:
        (tmp_path / "empty").mkdir()
        other = tmp_path / "other"
        git("clone", "-q", str(trained_project), str(other), cwd=tmp_path)
        dvc("remote", "add", "-d", "web", f"http://ci:{SECRET}@{host}/", cwd=other)
        proc = mlopsctl("data", "pull", cwd=other)
        assert proc.returncode == 3 and "lacks" in proc.stderr and f"http://{host}/" in proc.stderr
        assert SECRET not in proc.stdout + proc.stderr


def test_a_refused_tag_push_says_why_without_the_token(trained_project: Path) -> None:
    """git quotes the remote's URL as configured; the error keeps git's reason, not the
    token, and the tags this promotion made are not kept."""
    # a loopback port nothing listens on: git cannot connect
    with http_remote(trained_project) as host:
        pass
    url = f"http://ci:{SECRET}@{host}/demo.git"
    git("remote", "add", "origin", url, cwd=trained_project)
    proc = mlopsctl("promote", "--to", "staging", "--push", cwd=trained_project)
    assert proc.returncode == 3, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "could not push" in proc.stderr and f"http://{host}/demo.git" in proc.stderr
    assert "the tags were not kept" in proc.stderr
    assert git("tag", "--list", cwd=trained_project).stdout == ""
