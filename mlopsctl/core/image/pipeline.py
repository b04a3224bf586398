"""`mlopsctl build --kind pipeline`: the image every step of an exported pipeline runs on —
the project's whole environment (its requirements as installed here, mlopsctl, DVC with the
remote's plugin, kfp when installed) on a base with Python and git, written by the same
native OCI writer as the serving image: same inputs, same digest; non-root in group 0 with
a group-writable /workspace (OpenShift's arbitrary UIDs).

The distributions are copied as installed where mlopsctl runs (not downloaded again): the
versions the project was trained with, sdist-only packages included, and no network."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.files import write_atomic
from mlopsctl.core.image.base import BASE_HINT, DEFAULT_PATH, BaseImage, read_base
from mlopsctl.core.image.context import link_tree_file
from mlopsctl.core.image.deps import pinned_closure
from mlopsctl.core.image.layers import APP_GID, APP_UID, Blob, compress_layer, write_tree_tar
from mlopsctl.core.image.oci import write_image_archive, write_image_manifest
from mlopsctl.errors import BadInput, EnvironmentProblem

OUTPUT = Path("dist") / "pipeline-image.tar"
WORKSPACE = "workspace"
SERVING_BASE = "/opt/mlopsctl/serving-base.tar"
# DVC's remote plugins by URL scheme (DVC itself does local, http and https)
DVC_PLUGINS = {
    "s3": "dvc-s3",
    "gs": "dvc-gs",
    "gcs": "dvc-gs",
    "azure": "dvc-azure",
    "ssh": "dvc-ssh",
    "sftp": "dvc-ssh",
    "webdav": "dvc-webdav",
    "webdavs": "dvc-webdav",
    "hdfs": "dvc-hdfs",
    "oss": "dvc-oss",
    "gdrive": "dvc-gdrive",
}
ENV = {
    "PATH": f"/app/tools/bin:{DEFAULT_PATH.removeprefix('PATH=')}",
    # the packages sit in Python's user site (PYTHONUSERBASE): found without PYTHONPATH,
    # which dvc.yaml's stages set for themselves (PYTHONPATH=src python -m ...)
    "PYTHONUSERBASE": "/app/deps",
    # an arbitrary UID has no home of its own
    "HOME": "/tmp",
    "PYTHONUNBUFFERED": "1",
    "DVC_NO_ANALYTICS": "1",
    "DVC_NO_UPDATE_CHECK": "1",
    # a workspace volume's files belong to whichever UID wrote them: git must not refuse them
    # (safe.directory counts only in system or global config; ~/.gitconfig stays the user's)
    "GIT_CONFIG_SYSTEM": "/app/tools/gitconfig",
}
# console scripts that run the image's python3 (pip's carry this machine's interpreter
# path); `python` too, as dvc.yaml's stages and users' scripts call it
SCRIPTS = {
    "mlopsctl": 'exec python3 -m mlopsctl "$@"',
    "dvc": 'exec python3 -m dvc "$@"',
    "python": 'exec python3 "$@"',
}


@dataclass
class PipelineImage:
    tag: str
    output: Path
    digest: str
    image_id: str
    lock: Path
    size: int
    pins: dict[str, str]
    layers: list[dict[str, Any]] = field(default_factory=list)


def build_pipeline_image(
    root: Path,
    *,
    base: str | None,
    serving_base: Path | None = None,
    tag: str | None = None,
    output: Path | None = None,
    cache: Path,
) -> PipelineImage:
    if not base:
        raise EnvironmentProblem(
            "no base image for the pipeline image: pass --base",
            "a root filesystem with python3 and git: mmdebstrap --variant=minbase "
            "--include=python3,ca-certificates,git bookworm base.tar (docs/build.md)",
        )
    if serving_base is not None and not serving_base.is_file():
        raise BadInput(f"--serving-base {serving_base} is not a file", BASE_HINT)
    output = output or root / OUTPUT
    epoch = _epoch(root)
    with tempfile.TemporaryDirectory(prefix="mlopsctl-pipeline-image-") as tmp:
        work = Path(tmp)
        blobs = work / "blobs"
        base_image = read_base(base, blobs, cache / "layers")
        if base_image.python != sys.version_info[:2]:
            raise EnvironmentProblem(
                f"the base image has Python {base_image.python[0]}.{base_image.python[1]}, but "
                f"mlopsctl runs on {sys.version_info[0]}.{sys.version_info[1]}: the pipeline "
                "image copies this environment's packages",
                f"use a base with Python {sys.version_info[0]}.{sys.version_info[1]}",
            )
        pins = pinned_closure(_roots(root), base_image.python)
        site = f"app/deps/lib/python{base_image.python[0]}.{base_image.python[1]}/site-packages"
        _site_packages(pins, work / "deps")
        _mlopsctl(work / "mlopsctl")
        _tools(work / "tools")
        layers: list[Blob] = list(base_image.layers)
        roles = ["base"] * len(layers)
        for role, (tree, prefix) in {
            "deps": (work / "deps", site),
            "mlopsctl": (work / "mlopsctl", site),
            "tools": (work / "tools", "app/tools"),
            "workspace": (_empty(work / "ws"), WORKSPACE),
        }.items():
            tar_path = work / f"{role}.tar"
            write_tree_tar(tree, prefix, tar_path, epoch)
            layers.append(compress_layer(tar_path, blobs, cache / "layers"))
            roles.append(role)
            tar_path.unlink()
        if serving_base is not None:
            tar_path = work / "serving-base.tar"
            staged = work / "opt"
            staged.mkdir()
            link_tree_file(serving_base, staged / Path(SERVING_BASE).name)
            write_tree_tar(staged, str(Path(SERVING_BASE).parent).lstrip("/"), tar_path, epoch)
            layers.append(compress_layer(tar_path, blobs, cache / "layers"))
            roles.append("serving-base")
        labels = _labels(root, epoch)
        diff_ids = [str(b.diff_id) for b in layers]
        config = _config(base_image, labels, diff_ids, roles, epoch, serving_base is not None)
        config_blob, manifest = write_image_manifest(config, layers, blobs)
        tag = tag or default_tag(root)
        annotations = {k: v for k, v in labels.items() if k.startswith("org.opencontainers")}
        write_image_archive(output, tag, config_blob, manifest, layers, epoch, annotations)
    image = PipelineImage(
        tag=tag,
        output=output,
        digest=manifest.digest,
        image_id=config_blob.digest,
        lock=output.with_name(output.name.removesuffix(".tar") + ".lock.json"),
        size=output.stat().st_size,
        pins=pins,
        layers=[
            {"role": role, "digest": b.digest, "diff_id": b.diff_id, "size": b.size}
            for role, b in zip(roles, layers, strict=True)
        ],
    )
    _write_lock(image, base_image, labels, epoch, serving_base)
    return image


def default_tag(root: Path) -> str:
    from mlopsctl.core.model.source import artifact_name

    name = re.sub(r"[^a-z0-9._-]+", "-", artifact_name(root).lower()).strip("-.") or "model"
    commit = vcs.output(root, "rev-parse", "--short=12", "HEAD") or "latest-build"
    return f"localhost/{name}-pipeline:{commit}"


def _epoch(root: Path) -> int:
    import os

    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    when = vcs.output(root, "show", "-s", "--format=%ct", "HEAD")
    return int(when) if when.isdigit() else 0


def _roots(root: Path) -> set[str]:
    """What the image must hold: the project's requirements, mlopsctl's own dependencies,
    DVC and the plugins of the project's remotes, kfp when it is installed here."""
    from packaging.requirements import InvalidRequirement, Requirement

    from mlopsctl.core.dvcrepo import read_dvc_remotes

    # pip: the serving image's build installs its dependencies with it
    roots = {"dvc", "pip"}
    requirements = root / "requirements.txt"
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                roots.add(Requirement(line).name)
            except InvalidRequirement as exc:
                raise BadInput(f"{requirements}: {line!r} is not a requirement", None) from exc
    for line in metadata.distribution("mlopsctl").requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            roots.add(requirement.name)
    remotes, _ = read_dvc_remotes(root)
    for url in remotes.values():
        plugin = DVC_PLUGINS.get(url.partition("://")[0] if "://" in url else "")
        if plugin:
            roots.add(plugin)
    try:
        metadata.distribution("kfp")
        roots.add("kfp")
    except metadata.PackageNotFoundError:
        pass
    # mlopsctl itself is copied as source (it may be installed editable, or not from PyPI)
    roots.discard("mlopsctl")
    return roots


def _site_packages(pins: dict[str, str], dest: Path) -> Path:
    """Each pinned distribution's installed files (no bytecode, no console scripts)."""
    dest.mkdir(parents=True)
    for name in sorted(pins):
        dist = metadata.distribution(name)
        site = Path(str(dist.locate_file(""))).resolve()
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file))).resolve()
            if not path.is_relative_to(site) or "__pycache__" in path.parts or not path.is_file():
                continue
            target = dest / path.relative_to(site)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                link_tree_file(path, target)
    return dest


def _mlopsctl(dest: Path) -> Path:
    """mlopsctl's package, as it runs here (it may be installed editable)."""
    import shutil

    import mlopsctl

    package = Path(mlopsctl.__file__).parent
    shutil.copytree(
        package, dest / "mlopsctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    templates = package.parent / "templates"
    if not (dest / "mlopsctl" / "templates").exists() and templates.is_dir():
        shutil.copytree(templates, dest / "mlopsctl" / "templates")
    return dest


def _tools(dest: Path) -> Path:
    """The console scripts and the system gitconfig."""
    dest.mkdir()
    (dest / "gitconfig").write_text("[safe]\n\tdirectory = *\n")
    (dest / "bin").mkdir()
    for script, command in SCRIPTS.items():
        path = dest / "bin" / script
        path.write_text(f"#!/bin/sh\n{command}\n")
        path.chmod(0o755)
    return dest


def _empty(path: Path) -> Path:
    path.mkdir()
    return path


def _labels(root: Path, epoch: int) -> dict[str, str]:
    from mlopsctl import __version__
    from mlopsctl.core.model.source import artifact_name

    labels = {
        "org.opencontainers.image.title": f"{artifact_name(root)} pipeline",
        "org.opencontainers.image.created": datetime.fromtimestamp(epoch, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "io.mlopsctl.version": __version__,
        "io.mlopsctl.kind": "pipeline",
    }
    commit = vcs.output(root, "rev-parse", "HEAD")
    if commit:
        labels["org.opencontainers.image.revision"] = commit
    remote = vcs.output(root, "config", "--get", "remote.origin.url")
    if remote:
        labels["org.opencontainers.image.source"] = remote
    return labels


def _config(
    base: BaseImage,
    labels: dict[str, str],
    diff_ids: list[str],
    roles: list[str],
    epoch: int,
    serving_base: bool,
) -> dict[str, Any]:
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    base_config = dict(base.config.get("config") or {})
    env: dict[str, str] = {}
    for item in base_config.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    env.update(ENV)
    if serving_base:
        env["MLOPSCTL_BASE_IMAGE"] = SERVING_BASE
    history = [
        {"created": created, "created_by": f"{role} layer", "comment": "mlopsctl build"}
        for role in roles
    ]
    return {
        "architecture": base.architecture,
        "os": str(base.config.get("os") or "linux"),
        "created": created,
        "config": {
            "User": f"{APP_UID}:{APP_GID}",
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Cmd": ["/bin/sh"],
            "WorkingDir": f"/{WORKSPACE}",
            "Labels": {**(base_config.get("Labels") or {}), **labels},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }


def _write_lock(
    image: PipelineImage,
    base: BaseImage,
    labels: dict[str, str],
    epoch: int,
    serving_base: Path | None,
) -> None:
    lock = {
        "kind": "pipeline",
        "image": {
            "tag": image.tag,
            "digest": image.digest,
            "id": image.image_id,
            "builder": "native",
            "file": image.output.name,
            "layers": image.layers,
        },
        "base": {
            "source": base.source,
            "manifest_digest": base.manifest_digest,
            "layers": [b.digest for b in base.layers],
            "python": f"{base.python[0]}.{base.python[1]}",
        },
        "serving_base": str(serving_base) if serving_base else None,
        "dependencies": image.pins,
        "labels": labels,
        "source_date_epoch": epoch,
    }
    write_atomic(image.lock, json.dumps(lock, indent=2, sort_keys=True) + "\n")
