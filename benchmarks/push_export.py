"""Push and export figures, against baselines measured in the same run (prints JSON).

- `mlopsctl push` of the template's image tar to a fresh loopback registry, against
  `skopeo copy oci-archive:TAR docker://...` of the same tar to another fresh registry
  (goal, issue 14: ratio <= 1.0);
- a repeated push of the same image (goal: <= 1 s: every blob is HEADed, none is sent);
- `mlopsctl export serving` in a project whose staging and production are held (goal: <= 1 s).

The registry is Debian's docker-registry on loopback, plain HTTP (`--tls-verify=false`).
The project is made by `mlopsctl init --run`; the image is built on --base (a Debian root
filesystem tar, e.g. the image tests' cached one, or $MLOPSCTL_BASE_IMAGE).
Usage: python benchmarks/push_export.py --base BASE.tar [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _project import bench_env, init_project, mlopsctl
from _timing import wall

CONFIG = "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {data}}}}}\n"
CONFIG += "http: {{addr: '127.0.0.1:{port}'}}\n"


@contextmanager
def registry(folder: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(CONFIG.format(data=folder / "data", port=port))
    server = subprocess.Popen(
        ["docker-registry", "serve", str(folder / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5)
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default=os.environ.get("MLOPSCTL_BASE_IMAGE"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.base:
        parser.error("pass --base (a Debian root filesystem tar) or set MLOPSCTL_BASE_IMAGE")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = bench_env(work)
        project = init_project(work, env, "--run")
        build = [*mlopsctl(), "build", "--base", args.base]
        subprocess.run(build, cwd=project, env=env, check=True, capture_output=True)
        tar = project / "dist" / "image.tar"
        lock = json.loads(tar.with_name("image.lock.json").read_text())
        ours, skopeo, again = [], [], []
        for run in range(args.runs):
            with registry(work / f"ours-{run}") as host:
                push = [*mlopsctl(), "push", str(tar), f"{host}/demo/model:b", "--tls-verify=false"]
                ours.append(wall(push, project, env))
                again.append(wall(push, project, env))
                inspect = subprocess.run(
                    ["skopeo", "inspect", "--tls-verify=false", f"docker://{host}/demo/model:b"],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                assert json.loads(inspect.stdout)["Digest"] == lock["image"]["digest"]
            with registry(work / f"skopeo-{run}") as host:
                copy = [
                    "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                    f"oci-archive:{tar}", f"docker://{host}/demo/model:b",
                ]  # fmt: skip
                skopeo.append(wall(copy, project, env))
        with registry(work / "export") as host:
            push = [*mlopsctl(), "push", str(tar), f"{host}/demo/model:b", "--tls-verify=false"]
            subprocess.run(push, cwd=project, env=env, check=True, capture_output=True)
            for stage in ("staging", "production"):
                promote = [*mlopsctl(), "promote", "--to", stage]
                subprocess.run(promote, cwd=project, env=env, check=True, capture_output=True)
            export = [*mlopsctl(), "export", "serving", "--repo-url", "https://git.example/d.git"]
            exports = [wall(export, project, env) for _ in range(args.runs)]
        result = {
            "image_mb": round(tar.stat().st_size / 1e6, 1),
            "runs": args.runs,
            "push_s": round(statistics.median(ours), 3),
            "skopeo_copy_s": round(statistics.median(skopeo), 3),
            "push_vs_skopeo": round(statistics.median(ours) / statistics.median(skopeo), 3),
            "repeated_push_s": round(statistics.median(again), 3),
            "export_serving_s": round(statistics.median(exports), 3),
            "goals": {"push_vs_skopeo": "<= 1.0", "repeated_push_s": "<= 1", "export_s": "<= 1"},
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
