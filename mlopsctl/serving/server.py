"""Configuration from the environment, the app factory, and running it under uvicorn.

Environment (all optional):
  MODEL_DIR          the model folder: model.pkl + model.json [/app/model]
  MODEL_NAME         the name in the URLs [model.json's `name`, else "model"]
  MODEL_VERSION      [model.json's `version`, else the first 12 hex digits of the sha256]
  MODEL_SHA256       the expected sha256 of model.pkl [model.json's `sha256`]
  HOST, PORT         [0.0.0.0, 8080]
  WORKERS            uvicorn worker processes [1]
  MAX_BODY_BYTES     larger request bodies get 413 [4194304]
  PREDICTION_LOG     a folder: log every predicted row there as JSON lines [off]
  PREDICTION_LOG_MAX_BYTES, PREDICTION_LOG_BACKUPS   rotation [10485760, 4]
  REQUEST_READ_TIMEOUT  seconds to read a request (headers and body), else disconnected [10]
  MAX_CONNECTIONS    open connections per worker; past it the longest idle is closed [800]
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlopsctl.serving.app import DEFAULT_MAX_BODY, PredictionService
from mlopsctl.serving.model import ModelLoadError, load_model
from mlopsctl.serving.predlog import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, PredictionLog

DEFAULT_MODEL_DIR = "/app/model"
EXIT_CANNOT_SERVE = 3


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ModelLoadError(f"{key}={raw!r} is not a whole number") from exc


def create_app(env: Mapping[str, str] | None = None) -> PredictionService:
    """Load and verify the model named by the environment; the ASGI app serving it."""
    env = os.environ if env is None else env
    from mlopsctl import __version__

    model = load_model(
        Path(env.get("MODEL_DIR") or DEFAULT_MODEL_DIR),
        expected_sha256=env.get("MODEL_SHA256") or None,
        name=env.get("MODEL_NAME") or None,
        version=env.get("MODEL_VERSION") or None,
    )
    log = None
    if env.get("PREDICTION_LOG"):
        try:
            log = PredictionLog(
                Path(env["PREDICTION_LOG"]),
                model=model.name,
                version=model.version,
                max_bytes=_int(env, "PREDICTION_LOG_MAX_BYTES", DEFAULT_MAX_BYTES),
                backups=_int(env, "PREDICTION_LOG_BACKUPS", DEFAULT_BACKUPS),
            )
        except OSError as exc:
            raise ModelLoadError(f"cannot write the prediction log: {exc}") from exc
    service = PredictionService(
        model,
        max_body=_int(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY),
        prediction_log=log,
        server_version=__version__,
    )
    # everything loaded so far (numpy, scikit-learn, the fitted model) lives as long as the
    # process: keep it out of the garbage collector's full passes, which otherwise walk it
    # every few thousand requests and show up as the slowest ones
    import gc

    gc.collect()
    gc.freeze()
    return service


def run(host: str, port: int, workers: int = 1) -> None:
    """Serve until stopped. The model is loaded (and verified) before the port opens."""
    import uvicorn

    app = create_app()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": os.environ.get("LOG_LEVEL", "warning"),
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        # TCP_NODELAY, request read timeouts and a connection cap (see connections.py)
        "http": "mlopsctl.serving.connections:GuardedHttpToolsProtocol",
    }
    print(
        f"mlopsctl-serving: {app.model.name} version {app.model.version} "
        f"(sha256 {app.model.sha256[:12]}) on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    # SIGTERM is how Kubernetes, systemd and `podman stop` end a server: uvicorn shuts down
    # gracefully, then raises the signal again for the handler it found; ours makes that a
    # normal end (exit 0, the caller's cleanup runs) instead of death by signal (143)
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        if workers > 1:
            uvicorn.run(
                "mlopsctl.serving.server:create_app", factory=True, workers=workers, **options
            )
        else:
            uvicorn.run(app, **options)
    except Stopped:
        print("mlopsctl-serving: stopped (SIGTERM)", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


class Stopped(Exception):
    """SIGTERM after the graceful shutdown."""


def _stopped(signum: int, frame: object) -> None:
    raise Stopped


def main() -> None:
    env = os.environ
    try:
        run(env.get("HOST") or "0.0.0.0", _int(env, "PORT", 8080), _int(env, "WORKERS", 1))
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CANNOT_SERVE)
