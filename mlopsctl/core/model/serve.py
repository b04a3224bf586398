"""What `mlopsctl serve` needs besides the service itself: a free port and its environment."""

from __future__ import annotations

import socket
from pathlib import Path

from mlopsctl.core.model.source import StagedModel
from mlopsctl.errors import EnvironmentProblem


def check_port(host: str, port: int) -> None:
    """Fail before loading the model when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                "choose another port with --port, or stop what is using it",
            ) from exc


def serving_env(staged: StagedModel, prediction_log: Path | None) -> dict[str, str]:
    """The service's environment variables (see mlopsctl.serving.server) for a staged model."""
    env = {
        "MODEL_DIR": str(staged.folder),
        "MODEL_NAME": staged.name,
        "MODEL_VERSION": staged.version,
        "MODEL_SHA256": staged.sha256,
    }
    if prediction_log is not None:
        env["PREDICTION_LOG"] = str(prediction_log.resolve())
    return env
