"""Soak: the prediction service under steady load, then under mixed bad traffic.

1. 60 s of 1-row V2 infer requests at 32 connections (`wrk -t2 -c32`), prediction log on.
2. 30 s of valid requests (`wrk -t2 -c8`) while other clients send bad traffic: broken and
   deeply nested JSON, datatypes that are objects, integers beyond float64, broken binary
   tensor headers, unknown routes and methods, and slow-loris connections that never
   finish their headers.
Goals (issue 16): 0 errors on valid requests in both phases, no 5xx to bad traffic, RSS
flat (server RSS before phase 1 and after phase 2). The baseline is phase 1 itself: the
valid throughput during phase 2 is reported as a ratio of phase 1's (it shares two cores
with the bad clients). Prints JSON. Usage:
  python benchmarks/soak.py [--seconds 60] [--bad-seconds 30] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from _project import IDENTITY, init_project
from serving import WRK_SCRIPT, parse_wrk, wait

ROOT = Path(__file__).resolve().parents[1]
PORT = 18282


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(url: str, body: str, connections: int, seconds: int, work: Path) -> dict[str, float]:
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=body))
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def bad_requests(width: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    infer = "/v2/models/demo/infer"
    deep = b"[" * 5000 + b"]" * 5000
    row = [1.0] * width
    return [
        ("POST", infer, b"{not json", {}),
        ("POST", infer, b'{"inputs": ' + deep + b"}", {}),
        ("POST", infer, json.dumps({"inputs": [{"name": "x", "datatype": {"a": 1}}]}).encode(), {}),
        (
            "POST",
            infer,
            json.dumps(
                {"inputs": [{"name": "x", "shape": [1, width], "data": [10**400, *row[1:]]}]}
            ).encode(),
            {},
        ),
        (
            "POST",
            "/v1/models/demo:predict",
            json.dumps({"instances": [[10**400] * width]}).encode(),
            {},
        ),
        ("POST", infer, b"{}" + b"\0" * 64, {"Inference-Header-Content-Length": "999"}),
        ("POST", infer, b"{}", {"Inference-Header-Content-Length": "nope"}),
        ("GET", infer, b"", {}),
        ("DELETE", "/v2/health/ready", b"", {}),
        ("GET", "/v2/models/other", b"", {}),
        ("POST", "/v2/models/other/infer", b"{}", {}),
    ]


def bad_traffic(base: str, width: int, until: float, counts: dict[str, int]) -> None:
    requests = bad_requests(width)
    n = 0
    while time.monotonic() < until:
        method, path, body, headers = requests[n % len(requests)]
        n += 1
        request = urllib.request.Request(
            base + path, data=body or None, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            counts["connection_errors"] += 1
            continue
        counts["sent"] += 1
        if status >= 500:
            counts["5xx"] += 1


def slow_loris(port: int, until: float, counts: dict[str, int]) -> None:
    """Connections that send half a request and then nothing, replaced when cut off."""
    open_socks: list[socket.socket] = []
    while time.monotonic() < until:
        while len(open_socks) < 200:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"POST /v2/models/demo/infer HTTP/1.1\r\nHost: x\r\n")
                sock.setblocking(False)
                open_socks.append(sock)
                counts["opened"] += 1
            except OSError:
                break
        time.sleep(0.5)
        for sock in list(open_socks):
            try:
                if sock.recv(1) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                counts["cut_off_by_server"] += 1
                open_socks.remove(sock)
                sock.close()
    for sock in open_socks:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--bad-seconds", type=int, default=30)
    parser.add_argument("--model-dir", type=Path, help="a staged model folder (else init --run)")
    args = parser.parse_args()
    env = {**os.environ, **IDENTITY, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}
    with tempfile.TemporaryDirectory(prefix="mlopsctl-soak-") as tmp:
        work = Path(tmp)
        sys.path.insert(0, str(ROOT))
        from mlopsctl.core.model.source import resolve_model, stage_model

        model_dir = args.model_dir
        if model_dir is None:
            project = init_project(work, env, "--run")
            model_dir = stage_model(resolve_model(None, None, project), work / "model").folder
        features = json.loads((model_dir / "model.json").read_text())["features"]
        width = len(features)
        body = json.dumps(
            {
                "inputs": [
                    {"name": "x", "shape": [1, width], "datatype": "FP64", "data": [1.0] * width}
                ]
            }
        )
        server_env = {
            **env,
            "MODEL_DIR": str(model_dir),
            "HOST": "127.0.0.1",
            "PORT": str(PORT),
            "PREDICTION_LOG": str(work / "log"),
            "PREDICTION_LOG_MAX_BYTES": str(4 * 1024 * 1024),
            "PREDICTION_LOG_BACKUPS": "2",
            "REQUEST_READ_TIMEOUT": "5",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "mlopsctl.serving"],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{PORT}"
        url = f"{base}/v2/models/demo/infer"
        try:
            wait(f"{base}/v2/health/ready")
            wrk(url, body, 32, 3, work)  # warm up
            rss_before = rss_mb(server.pid)
            steady = wrk(url, body, 32, args.seconds, work)
            rss_after_steady = rss_mb(server.pid)
            until = time.monotonic() + args.bad_seconds
            bad = {"sent": 0, "5xx": 0, "connection_errors": 0}
            loris = {"opened": 0, "cut_off_by_server": 0}
            threads = [
                threading.Thread(target=bad_traffic, args=(base, width, until, bad)),
                threading.Thread(target=bad_traffic, args=(base, width, until, bad)),
                threading.Thread(target=slow_loris, args=(PORT, until, loris)),
            ]
            for thread in threads:
                thread.start()
            mixed = wrk(url, body, 8, args.bad_seconds, work)
            for thread in threads:
                thread.join()
            time.sleep(1)
            rss_after = rss_mb(server.pid)
            log_bytes = sum(p.stat().st_size for p in (work / "log").iterdir())
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        json.dumps(
            {
                "steady": {"load": f"wrk -t2 -c32 -d{args.seconds}s, 1-row V2 infer", **steady},
                "mixed": {
                    "valid": {"load": f"wrk -t2 -c8 -d{args.bad_seconds}s", **mixed},
                    "valid_throughput_vs_steady": round(
                        mixed["requests_per_s"] / steady["requests_per_s"], 3
                    ),
                    "bad_requests": bad,
                    "slow_loris": loris,
                },
                "server_rss_mb": {
                    "before": round(rss_before, 1),
                    "after_steady": round(rss_after_steady, 1),
                    "after_mixed": round(rss_after, 1),
                    "growth": round(rss_after - rss_before, 1),
                },
                "prediction_log_bytes": log_bytes,
                "goals": {
                    "valid_errors": steady["errors"] + mixed["errors"] == 0,
                    "no_5xx_to_bad_traffic": bad["5xx"] == 0,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
