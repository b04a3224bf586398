"""The build context of `mlopsctl build`: a Containerfile with no RUN, the dependency layer,
the model and the service, and the image config and labels every builder gives it."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.files import write_atomic
from mlopsctl.core.image.base import BaseImage
from mlopsctl.core.image.deps import (
    Dependencies,
)
from mlopsctl.core.image.layers import (
    APP_GID,
    APP_UID,
)
from mlopsctl.core.model.source import ModelSource, StagedModel
from mlopsctl.core.urls import without_credentials

PORT = 8080


# (context folder, path in the image): the layers after the base, in this order
LAYERS = (("deps", "app/deps"), ("model", "app/model"), ("app", "app"))


ENTRYPOINT = ["python3", "-m", "mlopsctl.serving"]


HEALTHCHECK = ["CMD", "python3", "-m", "mlopsctl.serving.probe"]


SERVICE_ENV = {
    "PYTHONPATH": "/app/deps/site-packages:/app",
    "MODEL_DIR": "/app/model",
    "HOST": "0.0.0.0",
    "PORT": str(PORT),
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


def source_date_epoch(source: ModelSource) -> int:
    """SOURCE_DATE_EPOCH if set, else the time of the model's commit (HEAD for the
    workspace), else 0: never the time of the build."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    if source.project is None:
        return 0
    when = vcs.output(source.project, "show", "-s", "--format=%ct", source.commit or "HEAD")
    return int(when) if when.isdigit() else 0


def image_labels(source: ModelSource, staged: StagedModel, epoch: int) -> dict[str, str]:
    import hashlib

    from mlopsctl import __version__

    labels = {
        "org.opencontainers.image.title": staged.name,
        "org.opencontainers.image.version": staged.version,
        "org.opencontainers.image.created": datetime.fromtimestamp(epoch, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "io.mlopsctl.model.name": staged.name,
        "io.mlopsctl.model.version": staged.version,
        "io.mlopsctl.model.sha256": staged.sha256,
        "io.mlopsctl.version": __version__,
        "io.mlopsctl.sbom": "/app/deps/sbom.cdx.json",
    }
    if source.project is not None:
        rev = source.commit or "HEAD"
        commit = vcs.output(source.project, "rev-parse", f"{rev}^{{commit}}")
        if commit:
            labels["org.opencontainers.image.revision"] = commit
        remote = vcs.output(source.project, "config", "--get", "remote.origin.url")
        if remote:
            labels["org.opencontainers.image.source"] = without_credentials(remote)
        params = _params_text(source.project, source.commit)
        if params is not None:
            labels["io.mlopsctl.params.sha256"] = hashlib.sha256(params.encode()).hexdigest()
    if source.stage:
        labels["io.mlopsctl.model.stage"] = source.stage
    return labels


def _params_text(project: Path, commit: str | None) -> str | None:
    if commit is None:
        path = project / "params.yaml"
        return path.read_text(encoding="utf-8") if path.is_file() else None
    from mlopsctl.core.git import show_file

    return show_file(project, commit, "params.yaml")


def link_tree_file(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_context(
    context: Path,
    staged: StagedModel,
    deps: Dependencies,
    from_ref: str,
    base_image: BaseImage,
    labels: dict[str, str],
) -> None:
    """The plain build context: any builder builds it offline (no RUN, no network)."""
    import mlopsctl

    context.mkdir(parents=True, exist_ok=True)
    _link_tree(deps.folder, context / "deps")
    package = Path(mlopsctl.__file__).parent
    app = context / "app" / "mlopsctl"
    (app / "serving").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(package / "__init__.py", app / "__init__.py")
    for module in sorted((package / "serving").glob("*.py")):
        shutil.copyfile(module, app / "serving" / module.name)
    lines = [
        "# Written by `mlopsctl build`. No RUN and no network: podman, buildah or docker build",
        "# it offline. BASE is the base image (an image name, or oci-archive:/path/base.tar).",
        f"ARG BASE={from_ref}",
        "FROM ${BASE}",
        f"# base Python: {base_image.python[0]}.{base_image.python[1]}, as the dependencies need",
    ]
    for folder, target in LAYERS:
        lines.append(f"COPY --chown={APP_UID}:{APP_GID} {folder}/ /{target}/")
    lines += [f"ENV {k}={v}" for k, v in SERVICE_ENV.items()]
    lines += [f"LABEL {k}={json.dumps(v)}" for k, v in sorted(labels.items())]
    lines += [
        "WORKDIR /app",
        f"USER {APP_UID}:{APP_GID}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 "
        f"CMD {json.dumps(HEALTHCHECK[1:])}",
        f"ENTRYPOINT {json.dumps(ENTRYPOINT)}",
        "CMD []",
        "",
    ]
    write_atomic(context / "Containerfile", "\n".join(lines))


def from_ref_of(base: str) -> str:
    path = Path(base).expanduser()
    if path.is_dir():
        return f"oci:{path.resolve()}"
    if path.is_file():
        return f"oci-archive:{path.resolve()}"
    return base


def _link_tree(source: Path, dest: Path) -> None:
    """Hard links where the cache and the context share a filesystem, copies elsewhere."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, copy_function=link, symlinks=True)


def image_config(
    base: BaseImage, labels: dict[str, str], diff_ids: list[str], epoch: int
) -> dict[str, Any]:
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    base_config = dict(base.config.get("config") or {})
    env = {}
    for item in base_config.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    env.update(SERVICE_ENV)
    second = 1_000_000_000
    config = {
        "User": f"{APP_UID}:{APP_GID}",
        "ExposedPorts": {f"{PORT}/tcp": {}},
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Entrypoint": ENTRYPOINT,
        "WorkingDir": "/app",
        "Labels": {**(base_config.get("Labels") or {}), **labels},
        "Healthcheck": {
            "Test": HEALTHCHECK,
            "Interval": 30 * second,
            "Timeout": 5 * second,
            "StartPeriod": 30 * second,
            "Retries": 3,
        },
    }
    history = (
        [*base.history]
        if len(base.history) >= len(base.layers)
        else [
            {"created": created, "created_by": f"base image {Path(base.source).name}"}
            for _ in base.layers
        ]
    )
    for folder, target in LAYERS:
        history.append(
            {
                "created": created,
                "created_by": f"COPY {folder}/ /{target}/",
                "comment": "mlopsctl build",
            }
        )
    return {
        "architecture": base.architecture,
        "os": str(base.config.get("os") or "linux"),
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
