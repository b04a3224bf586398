"""What every pipeline export needs to know about the project, checked before anything is
written: the model's name, where the cluster clones the repository from, a DVC remote it can
reach, the registry the serving image goes to, and the pinned pipeline image."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.core.files import write_atomic
from mlopsctl.core.settings import tool_table
from mlopsctl.errors import BadInput

PIPELINE_LOCK = Path("dist") / "pipeline-image.lock.json"
PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
BUILD_PIPELINE_IMAGE = "mlopsctl build --kind pipeline"


@dataclass(frozen=True)
class ExportPlan:
    root: Path
    name: str  # the model's name in the registry (dvc.yaml artifacts)
    image: str  # the pipeline image, REPO@sha256:...
    git_url: str
    git_revision: str
    dvc_remote: str  # the DVC remote's name the pipeline pulls from and pushes to
    dvc_remote_url: str
    registry: str  # where the pipeline pushes the serving image (REGISTRY/REPO)
    stage: str  # the stage the pipeline promotes to
    sweep: tuple[str, ...]  # the sweep's default: one override set per entry

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")[:40] or "model"

    def secret(self, what: str) -> str:
        """The name of the Secret holding `what` (git, dvc, registry) credentials."""
        return f"{self.slug}-{what}"


def plan_export(
    root: Path,
    *,
    image: str | None = None,
    registry: str | None = None,
    remote: str | None = None,
    git_url: str | None = None,
    git_revision: str | None = None,
    stage: str | None = None,
) -> ExportPlan:
    """Every input of an export, or BadInput naming the one that is missing (nothing is
    written before this has passed)."""
    from mlopsctl.core import git as vcs
    from mlopsctl.core.model.source import artifact_name

    settings = tool_table(root, "export")
    remote_name, remote_url = _dvc_remote(root, remote or settings.get("remote"))
    registry = registry or settings.get("registry")
    if not registry:
        raise BadInput(
            "no image registry for the serving image the pipeline builds",
            "pass --registry REGISTRY/REPO or set registry in [tool.mlopsctl.export]",
        )
    url = git_url or settings.get("git_url") or vcs.output(root, "remote", "get-url", "origin")
    if not url:
        raise BadInput(
            "the project has no git remote for the cluster to clone",
            "`git remote add origin URL`, or pass --git-url",
        )
    revision = git_revision or vcs.current_branch(root) or "main"
    stages = tool_table(root, "promotion").get("stages") or ["staging", "production"]
    return ExportPlan(
        root=root,
        name=artifact_name(root),
        image=pipeline_image(root, image),
        git_url=str(url),
        git_revision=revision,
        dvc_remote=remote_name,
        dvc_remote_url=remote_url,
        registry=str(registry),
        stage=stage or str(stages[0]),
        sweep=tuple(_sweep_default(root, settings)),
    )


def pipeline_image(root: Path, image: str | None) -> str:
    """`image` (REPO@sha256:...), else the image `build --kind pipeline` recorded."""
    if image:
        if not PINNED.match(image):
            raise BadInput(
                f"--image {image} is not pinned by digest",
                "give it as REPO@sha256:<64 hex> (skopeo inspect shows the digest)",
            )
        return image
    lock = root / PIPELINE_LOCK
    if not lock.is_file():
        raise BadInput(
            f"no pipeline image built yet ({PIPELINE_LOCK} is missing)",
            f"run `{BUILD_PIPELINE_IMAGE}` first, or pass --image REPO@sha256:...",
        )
    from mlopsctl.core.image.push import pushed_repository

    written = json.loads(lock.read_text(encoding="utf-8"))
    recorded = written.get("image") or {}
    digest = str(recorded.get("digest") or "")
    # a pushed image is named by where it last went (`build --push`, `push`); a local one by
    # its tag's repository
    repository = pushed_repository(written) or ""
    if not repository:
        repository = str(recorded.get("tag") or "").split("@")[0]
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
    pinned = f"{repository}@{digest}"
    if not PINNED.match(pinned):
        raise BadInput(
            f"{PIPELINE_LOCK} records no image digest",
            f"run `{BUILD_PIPELINE_IMAGE}` again, or pass --image REPO@sha256:...",
        )
    return pinned


def _dvc_remote(root: Path, name: str | None) -> tuple[str, str]:
    """(name, url) of the remote the cluster uses: `name`, else the default one; a default
    remote on a local path is one no pod can reach."""
    from mlopsctl.core.dvcrepo import read_dvc_remotes

    remotes, default = read_dvc_remotes(root)
    hint = "pass --remote NAME, or `dvc remote add -d NAME s3://...` (a remote pods can reach)"
    if name:
        if name not in remotes:
            raise BadInput(f"the project has no DVC remote named {name!r}", hint)
        return name, remotes[name]
    if not default or default not in remotes:
        raise BadInput("the project has no default DVC remote", hint)
    from mlopsctl.core.dvcrepo import is_local_url

    if is_local_url(remotes[default]):
        raise BadInput(
            f"the default DVC remote {default!r} is a local folder ({remotes[default]}): "
            "a cluster cannot reach it",
            hint,
        )
    return default, remotes[default]


def _sweep_default(root: Path, settings: dict[str, Any]) -> list[str]:
    """[tool.mlopsctl.export] sweep, else one run per model config (conf/model/*.yaml)."""
    if settings.get("sweep"):
        return [str(entry) for entry in settings["sweep"]]
    models = sorted(p.stem for p in (root / "conf" / "model").glob("*.yaml"))
    return [f"model={name}" for name in models]


def write_documents(out: Path, files: dict[str, str], force: bool) -> list[Path]:
    """Write every file into `out`, or none: a file already there needs --force."""
    present = [out / name for name in files if (out / name).exists()]
    if present and not force:
        raise BadInput(
            f"{present[0]} is already there"
            + (f" (and {len(present) - 1} more)" if len(present) > 1 else ""),
            "pass --force to replace the exported files, or --out another folder",
        )
    written = []
    for name, text in files.items():
        write_atomic(out / name, text)
        written.append(out / name)
    return written


def dump_yaml(documents: list[dict[str, Any]], header: str) -> str:
    import yaml

    body = yaml.safe_dump_all(documents, sort_keys=False, width=100, default_flow_style=False)
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + body
