"""Which model a `build` or `serve` means, and its bytes in a folder the service can load.

A reference is a model folder (model.pkl + model.json), a project (its `models/`), a
registry reference (`NAME@vX.Y.Z`, `NAME#STAGE`), or a git revision of the project
(`--rev`). Files of a revision come from DVC (`dvc.api.open`: cache, else remote)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.files import write_json
from mlopsctl.errors import BadInput, EnvironmentProblem

MODEL_FILE = "model.pkl"
METADATA_FILE = "model.json"
MODELS_DIR = "models"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: where its files are (or at which commit) and what to call it."""

    name: str
    version: str | None
    project: Path | None  # the project, when the model comes from one
    commit: str | None  # None: the files in `folder` as they are now
    folder: str  # a folder path: absolute for a plain folder, else relative to the project
    stage: str | None = None


@dataclass(frozen=True)
class StagedModel:
    """model.pkl and model.json (with name, version and sha256 added) in `folder`."""

    folder: Path
    name: str
    version: str
    sha256: str
    metadata: dict[str, Any]


def is_registry_ref(ref: str) -> bool:
    from mlopsctl.core.registry.tags import parse_ref

    return parse_ref(ref) is not None and not Path(ref).exists()


def resolve_model(ref: str | None, rev: str | None, cwd: Path) -> ModelSource:
    """What `mlopsctl build/serve [REF] [--rev REV]` means."""
    from mlopsctl.core.project import find_project

    if ref is not None and not is_registry_ref(ref):
        path = (cwd / ref).resolve()
        if (path / MODEL_FILE).is_file():
            if rev is not None:
                raise BadInput(
                    "--rev needs a project, not a model folder",
                    "drop --rev or cd into the project",
                )
            return ModelSource(_folder_model_name(path), None, None, None, str(path))
        if path.is_dir() and (path / "dvc.yaml").is_file():
            project = find_project(path)
        elif path.exists():
            raise BadInput(
                f"{ref} has no {MODEL_FILE}",
                "name a model folder (model.pkl + model.json), a project, NAME@vX.Y.Z "
                "or NAME#STAGE",
            )
        else:
            raise BadInput(
                f"{ref!r} is not a folder, NAME@vX.Y.Z or NAME#STAGE",
                "name a model folder (model.pkl + model.json), a project, or a registry version",
            )
    else:
        project = find_project(cwd)
    name = artifact_name(project.root)
    if ref is not None and is_registry_ref(ref):
        if rev is not None:
            raise BadInput("give a registry reference or --rev, not both")
        from mlopsctl.core.registry.state import resolve

        found = resolve(project.root, ref)
        return ModelSource(
            found.name, found.version, project.root, found.commit, MODELS_DIR, found.stage
        )
    if rev is not None:
        commit = vcs.output(project.root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if not commit:
            raise BadInput(
                f"no git revision {rev!r} in {project.root}", "use a commit, branch or tag"
            )
        return ModelSource(name, None, project.root, commit, MODELS_DIR)
    if not (project.root / MODELS_DIR / MODEL_FILE).is_file():
        raise BadInput(
            f"{project.root / MODELS_DIR / MODEL_FILE} does not exist: no trained model",
            "train one with `mlopsctl train` (or `dvc pull` it), or name a registry version",
        )
    return ModelSource(name, None, project.root, None, MODELS_DIR)


def artifact_name(root: Path) -> str:
    """The model's name in the registry: the dvc.yaml artifact whose path is the model."""
    from mlopsctl.core.project import Project

    try:
        artifacts = Project(root).artifacts()
    except (OSError, ValueError):
        artifacts = {}
    for name, spec in artifacts.items():
        if str(spec.get("path", "")).strip("./") == f"{MODELS_DIR}/{MODEL_FILE}":
            return name
    return _folder_name(root)


def _folder_model_name(path: Path) -> str:
    """A model folder's name: the one its model.json records (a staged model's), else the
    artifact name of the project holding it (`demo/models` -> demo), else the folder's."""
    try:
        recorded = json.loads((path / METADATA_FILE).read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, str) and recorded.strip():
        return recorded.strip()
    if (path.parent / "dvc.yaml").is_file():
        return artifact_name(path.parent)
    return _folder_name(path)


def _folder_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", path.name).strip("-_")
    return name or "model"


def stage_model(source: ModelSource, dest: Path) -> StagedModel:
    """Copy the model's two files into `dest`, reading a commit's files through DVC, and
    record name, version and sha256 in the copy of model.json."""
    import hashlib

    dest.mkdir(parents=True, exist_ok=True)
    pkl, meta = _read_files(source)
    try:
        metadata = json.loads(meta)
    except ValueError as exc:
        raise BadInput(f"{METADATA_FILE} of {source.name} is not JSON: {exc}") from exc
    if not isinstance(metadata, dict) or not isinstance(metadata.get("features"), list):
        raise BadInput(
            f"{METADATA_FILE} of {source.name} has no `features` list",
            "the service needs the model's input names in order (the template's train writes them)",
        )
    sha256 = hashlib.sha256(pkl).hexdigest()
    version = source.version or (source.commit[:12] if source.commit else sha256[:12])
    metadata = {**metadata, "name": source.name, "version": version, "sha256": sha256}
    (dest / MODEL_FILE).write_bytes(pkl)
    write_json(dest / METADATA_FILE, metadata)
    return StagedModel(dest, source.name, version, sha256, metadata)


def _read_files(source: ModelSource) -> tuple[bytes, str]:
    if source.commit is None:
        folder = Path(source.folder) if source.project is None else source.project / source.folder
        try:
            return (folder / MODEL_FILE).read_bytes(), (folder / METADATA_FILE).read_text("utf-8")
        except FileNotFoundError as exc:
            raise BadInput(
                f"{exc.filename} does not exist",
                "a model folder has model.pkl and model.json (the template's train writes both)",
            ) from exc
    import dvc.api

    from mlopsctl.core.dvcrepo import quiet_dvc

    assert source.project is not None
    files = []
    for name, mode in ((MODEL_FILE, "rb"), (METADATA_FILE, "r")):
        path = f"{source.folder}/{name}"
        try:
            with (
                quiet_dvc(),
                dvc.api.open(path, repo=str(source.project), rev=source.commit, mode=mode) as fh,
            ):
                files.append(fh.read())
        except Exception as exc:
            raise EnvironmentProblem(
                f"cannot read {path} at {source.commit[:12]}: {type(exc).__name__}: {exc}",
                "the file must be in DVC's cache or remote: `dvc push` it from where it "
                "was trained",
            ) from exc
    return files[0], files[1]
