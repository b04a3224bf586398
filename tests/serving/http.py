"""Real HTTP on loopback: a free port, waiting for a server to be ready, JSON requests."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
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
