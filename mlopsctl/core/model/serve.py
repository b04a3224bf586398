"""What `mlopsctl serve` needs besides the service itself: a free port and its environment."""

from __future__ import annotations

import socket
from pathlib import Path

from mlopsctl.core.model.code import ProjectCode
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


def use_project_code(code: ProjectCode) -> None:
    """Put the model's copied project code first on this process's path and its workers'."""
    import os
    import sys

    folder = str(code.folder)
    sys.path.insert(0, folder)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")]))


def check_model_loads(staged: StagedModel, code: ProjectCode) -> None:
    """Unpickle the model here, before the service says it is serving: a module it needs
    and this environment lacks is an environment problem naming the module."""
    import pickle

    from mlopsctl.core.model.code import LoadFailure, load_problem_hint

    try:
        with open(staged.folder / "model.pkl", "rb") as fh:
            pickle.load(fh)
    except ModuleNotFoundError as exc:
        failure = LoadFailure(str(exc), exc.name)
        raise EnvironmentProblem(
            f"the model needs the module {exc.name!r}, which is not importable here",
            load_problem_hint(failure, code),
        ) from exc
    except AttributeError as exc:
        failure = LoadFailure(str(exc), None)
        raise EnvironmentProblem(
            f"the model does not load: {exc}", load_problem_hint(failure, code)
        ) from exc
