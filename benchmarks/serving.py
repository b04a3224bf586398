"""The prediction service and its image, measured in one run.

- serving: 1-row V2 infer requests on loopback, `wrk -t2 -c16 -d15s` (one uvicorn worker
  each, with the same HTTP parser: httptools when installed, as mlopsctl installs it),
  against a raw ASGI app that only parses JSON, builds the array and calls model.predict
  on the same fitted Pipeline, and against `mlflow models serve` (one worker, its own
  defaults otherwise) on the same Pipeline saved with mlflow.sklearn. All servers run at
  once on their own ports and are loaded in alternating rounds (A B C, A B C, ...), so the
  machine's drift is shared; every round is reported, and the ratios use the medians. MLflow
  runs from its own virtualenv with httptools installed, so its uvicorn parses HTTP as ours
  does (--mlflow PYTHON, or made once under ~/.cache/mlopsctl-bench with the scikit-learn
  version installed here; --mlflow off skips it).
  Goals (issue 6): >= 0.9x the raw app's throughput, >= 3x MLflow's, p99 <= 15 ms, zero
  errors.
- image: compressed size of the native image on an mmdebstrap bookworm base (goal <= 130 MB)
  and a warm rebuild (dependency layer cached; goal <= 30 s).
Prints JSON. Usage:
  python benchmarks/serving.py [--base ROOTFS_OR_IMAGE] [--seconds 15] [--rounds 3]
                               [--mlflow auto|off|PYTHON]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _project import IDENTITY, init_project
from _timing import wall

ROOT = Path(__file__).resolve().parents[1]
RAW_APP = """
import json, os, pickle, sys
sys.path.insert(0, {root!r})
import numpy as np
from mlopsctl.serving.model import load_model
model = load_model(__import__("pathlib").Path({model_dir!r})).estimator

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    payload = json.loads(body)
    tensor = payload["inputs"][0]
    prediction = model.predict(np.array(tensor["data"], dtype=np.float64)).tolist()
    out = json.dumps({{"outputs": [{{"name": "predict", "data": prediction}}]}}).encode()
    await send({{"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]}})
    await send({{"type": "http.response.body", "body": out}})
"""
WRK_SCRIPT = (
    'wrk.method = "POST"\nwrk.body = {body!r}\nwrk.headers["Content-Type"] = "application/json"\n'
)


def wait(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} never answered")


def parse_wrk(text: str) -> dict[str, float]:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket:
        errors += sum(int(g) for g in socket.groups())
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1]),  # type: ignore[index]
        "p50_ms": ms(percentiles["50"]),
        "p99_ms": ms(percentiles["99"]),
        "errors": errors,
        "requests": int(re.search(r"(\d+) requests in", text)[1]),  # type: ignore[index]
    }


def load(url: str, body: str, seconds: int, work: Path) -> dict[str, float]:
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=body))
    proc = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(proc.stdout)


def check_answers(url: str, body: str) -> None:
    """One request first: a server that answers every request with an error is no figure."""
    request = urllib.request.Request(
        url, body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}")


def serve(cmd: list[str], env: dict[str, str], ready: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait(ready)
    return proc


MLFLOW_VENV = Path.home() / ".cache" / "mlopsctl-bench" / "mlflow"


def mlflow_python(choice: str) -> Path | None:
    """A Python with MLflow and this machine's scikit-learn, made once (from PyPI)."""
    if choice == "off":
        return None
    if choice != "auto":
        return Path(choice)
    python = MLFLOW_VENV / "bin" / "python"
    if not python.is_file():
        import sklearn

        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "mlflow", "httptools"]
        subprocess.run([*pip, f"scikit-learn=={sklearn.__version__}"], check=True)
    return python


def mlflow_model(python: Path, model_dir: Path, dest: Path, port: int) -> list[str]:
    """The Pipeline saved as an MLflow model; the command that serves it on `port`."""
    save = (
        "import pickle, sys, mlflow.sklearn\n"
        "model = pickle.load(open(sys.argv[1], 'rb'))\n"
        "mlflow.sklearn.save_model(model, sys.argv[2], serialization_format='cloudpickle')\n"
    )
    subprocess.run(
        [str(python), "-c", save, str(model_dir / "model.pkl"), str(dest)],
        check=True,
        capture_output=True,
    )
    # mlflow starts its server as a command found on PATH: its virtualenv's first
    path = f"PATH={python.parent}:{os.environ.get('PATH', '')}"
    serve = ["models", "serve", "-m", str(dest), "-p", str(port), "--env-manager", "local"]
    return ["env", path, str(python), "-m", "mlflow", *serve, "-w", "1"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="base for the image figures (rootfs tar or image)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mlflow", default="auto", help="auto, off, or a Python with mlflow")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    env = {**os.environ, **IDENTITY, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="mlopsctl-bench-") as tmp:
        work = Path(tmp)
        mlopsctl = [sys.executable, "-m", "mlopsctl"]
        project = init_project(work, env, "--run")
        sys.path.insert(0, str(ROOT))
        from mlopsctl.core.model.source import resolve_model, stage_model

        staged = stage_model(resolve_model(None, None, project), work / "model")
        features = staged.metadata["features"]
        row = [[1.0] * len(features)]
        body = json.dumps(
            {
                "inputs": [
                    {"name": "x", "shape": [1, len(features)], "datatype": "FP64", "data": row}
                ]
            }
        )
        (work / "raw_app.py").write_text(
            RAW_APP.format(root=str(ROOT), model_dir=str(staged.folder))
        )
        uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
        # (name, command, port, readiness path, infer path, request body)
        runs = [
            (
                "raw_asgi",
                [*uvicorn, "--port", "18181", "--app-dir", str(work), "raw_app:app"],
                18181,
                "/",
                "/",
                body,
            ),
            (
                "mlopsctl",
                [*mlopsctl, "serve", str(staged.folder), "--port", "18182"],
                18182,
                "/health",
                "/v2/models/demo/infer",
                body,
            ),
        ]
        python = mlflow_python(args.mlflow)
        if python is not None:
            serve_mlflow = mlflow_model(python, staged.folder, work / "mlflow-model", 18183)
            mlflow_body = json.dumps({"inputs": row})
            runs.append(("mlflow", serve_mlflow, 18183, "/ping", "/invocations", mlflow_body))
        import importlib.util

        serving: dict[str, object] = {
            "load": f"wrk -t2 -c16 -d{args.seconds}s, 1-row V2 infer, {args.rounds} rounds",
            "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        }
        procs = []
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in runs}
        try:
            for _name, cmd, port, ready, path, payload in runs:
                procs.append(serve(cmd, env, f"http://127.0.0.1:{port}{ready}"))
                check_answers(f"http://127.0.0.1:{port}{path}", payload)
            for _ in range(args.rounds):  # A B C, A B C: the machine's drift hits all alike
                for name, _cmd, port, _ready, path, payload in runs:
                    url = f"http://127.0.0.1:{port}{path}"
                    rounds[name].append(load(url, payload, args.seconds, work))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
        for name, measured in rounds.items():
            serving[name] = {
                "rounds": measured,
                **{key: statistics.median(r[key] for r in measured) for key in measured[0]},
            }
        raw, ours = serving["raw_asgi"], serving["mlopsctl"]
        serving["throughput_vs_raw"] = round(ours["requests_per_s"] / raw["requests_per_s"], 3)  # type: ignore[index]
        serving["throughput_vs_raw_per_round"] = [
            round(o["requests_per_s"] / r["requests_per_s"], 3)
            for o, r in zip(rounds["mlopsctl"], rounds["raw_asgi"], strict=True)
        ]
        if "mlflow" in serving:
            theirs = serving["mlflow"]["requests_per_s"]  # type: ignore[index]
            serving["throughput_vs_mlflow"] = round(ours["requests_per_s"] / theirs, 2)  # type: ignore[index]
        serving["goals"] = {
            "throughput_vs_raw": ">= 0.9",
            "throughput_vs_mlflow": ">= 3",
            "p99_ms": "<= 15",
            "errors": "0",
        }
        results["serving"] = serving

        if args.base:
            cache = work / "cache"
            benv = {**env, "XDG_CACHE_HOME": str(cache)}
            build = [*mlopsctl, "build", "--base", args.base, "-o", str(work / "image.tar")]
            cold = wall(build, project, benv)
            warm = wall(build, project, benv)
            lock = json.loads((work / "image.lock.json").read_text())
            results["image"] = {
                "base": args.base,
                "compressed_mb": round(sum(x["size"] for x in lock["image"]["layers"]) / 1e6, 1),
                "layers_mb": {
                    x["role"]: round(x["size"] / 1e6, 1) for x in lock["image"]["layers"]
                },
                "tar_mb": round((work / "image.tar").stat().st_size / 1e6, 1),
                "cold_build_s": round(cold, 1),
                "warm_rebuild_s": round(warm, 1),
                "goals": {"compressed_mb": "<= 130", "warm_rebuild_s": "<= 30"},
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
