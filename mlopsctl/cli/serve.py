"""`mlopsctl serve`: parse, stage the model, run the image's service in this process."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mlopsctl.cli import options


def serve(
    ref: str = typer.Argument(None, help=options.MODEL_REF_HELP),
    rev: str = typer.Option(None, "--rev", help="Serve the model of this git revision."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    prediction_log: Path = typer.Option(
        None, "--prediction-log", help="Log every predicted row as JSON lines in this folder."
    ),
) -> None:
    """Serve a model over HTTP (Open Inference Protocol V2, V1 :predict, /metrics)."""
    from mlopsctl.console import err_console
    from mlopsctl.core.files import temporary_folder
    from mlopsctl.core.model.code import pickle_imports, stage_project_code
    from mlopsctl.core.model.serve import (
        check_model_loads,
        check_port,
        serving_env,
        use_project_code,
    )
    from mlopsctl.core.model.source import resolve_model, stage_model
    from mlopsctl.errors import BadInput
    from mlopsctl.serving.model import ModelLoadError
    from mlopsctl.serving.server import run

    source = resolve_model(ref, rev, Path.cwd())
    check_port(host, port)
    with temporary_folder("mlopsctl-serve-") as tmp:  # a killed serve's: removed next time
        staged = stage_model(source, tmp / "model")
        pkl = (staged.folder / "model.pkl").read_bytes()
        code = stage_project_code(source, pickle_imports(pkl).modules, tmp / "code")
        use_project_code(code)
        check_model_loads(staged, code)
        os.environ.update(serving_env(staged, prediction_log))
        base = f"http://{host}:{port}"
        err_console().print(
            f"Serving [bold]{staged.name}[/] {staged.version} at {base}  "
            f"(POST {base}/v2/models/{staged.name}/infer, metrics at {base}/metrics; Ctrl-C stops)",
            soft_wrap=True,
            highlight=False,
        )
        try:
            run(host, port, workers)
        except ModelLoadError as exc:
            raise BadInput(str(exc), "check the model's files (model.pkl, model.json)") from exc
