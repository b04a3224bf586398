"""Real HTTP on loopback: a free port, waiting for a server to be ready, JSON requests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, body: Any = None, method: str | None = None) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one request; 4xx/5xx are answers, not exceptions."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers["content-type"]
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers["content-type"]
    return status, json.loads(raw) if "json" in (kind or "") else raw.decode()


def wait_ready(base: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 120) -> None:
    """Poll /v2/health/ready until it answers 200 (a bound on waiting, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the server exited with {proc.returncode}:\n{out}")
        try:
            if call(f"{base}/v2/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} was not ready within {timeout} s")


@contextmanager
def running(
    cmd: list[str], port: int, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[str]:
    """A server started by `cmd` listening on `port`: its base URL once ready, stopped after."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


@contextmanager
def service(model_dir: Path, **settings: str) -> Iterator[str]:
    """The image's entrypoint (`python -m mlopsctl.serving`) serving `model_dir` on loopback."""
    port = free_port()
    env = {
        **os.environ,
        "MODEL_DIR": str(model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **settings,
    }
    with running([sys.executable, "-m", "mlopsctl.serving"], port, env) as base:
        yield base
