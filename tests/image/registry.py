"""A real OCI registry on loopback (Debian's docker-registry, the CNCF distribution server)
started by the tests, and a trained project whose images are built and pushed to it."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving.http import free_port

CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {data}
http:
  addr: 127.0.0.1:{port}
"""
ACCESS_LINE = re.compile(
    r'^\S+ - \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]+" (?P<status>\d+)'
)


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    log: Path  # the server's log, with an access line per request

    def requests(self) -> list[tuple[str, str, int]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = ACCESS_LINE.match(line)
            if match:
                found.append((match["method"], match["uri"], int(match["status"])))
        return found

    def blob_uploads(self) -> int:
        """Blobs the registry has received so far (a finished PUT of an upload)."""
        return sum(
            1
            for method, uri, status in self.requests()
            if method == "PUT" and "/blobs/uploads/" in uri and status == 201
        )


def start_registry(folder: Path, auth: tuple[str, str] | None = None) -> Iterator[Registry]:
    """`docker-registry serve` on a free loopback port, plain HTTP; htpasswd auth when
    `auth` is (user, password). Stopped when the generator is closed."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (.ci/run installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = CONFIG.format(data=folder / "data", port=port)
    if auth is not None:
        import bcrypt

        hashed = bcrypt.hashpw(auth[1].encode(), bcrypt.gensalt(rounds=4)).decode()
        (folder / "htpasswd").write_text(f"{auth[0]}:{hashed}\n")
        config += f"auth:\n  htpasswd:\n    realm: tests\n    path: {folder / 'htpasswd'}\n"
    (folder / "config.yml").write_text(config)
    log = folder / "registry.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            ["docker-registry", "serve", str(folder / "config.yml")],
            # the server reads REGISTRY_* variables as configuration (REGISTRY_AUTH_FILE,
            # which clients read, would be its `auth:`)
            env={k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(200):  # a bound on waiting for the port, not a timing check
            if server.poll() is not None:
                pytest.fail(f"docker-registry exited:\n{log.read_text()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5)
                break
            except urllib.error.HTTPError:
                break  # 401: up, and asking for credentials
            except OSError:
                time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def auth_file(path: Path, host: str, user: str, password: str) -> Path:
    """A containers-auth.json as `podman login` writes it."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from start_registry(tmp_path_factory.mktemp("registry"))


def skopeo_digest(ref: str) -> str:
    proc = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["Digest"])
