"""The GitOps move: which image each stage runs is decided by the registry (the stage's
holder) and the image locks (its digest), and written to the stage's overlay in one commit.

`export_serving` writes the whole folder, `deploy` moves one stage, `deploy_problems` is
`check deploy-current`: git's deployment against the registry's."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.export.serving import (
    DEFAULT_OUT,
    Export,
    Pin,
    ServingSpec,
    _write_yaml,
    argocd_documents,
    namespace_of,
    read_pin,
    write_export,
    write_overlay,
)
from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput, EnvironmentProblem

SPEC_FILE = "export.json"  # the options export was run with, for deploy to reuse


@dataclass(frozen=True)
class BuiltImage:
    lock: Path
    digest: str
    repository: str | None  # where it was last pushed, None when never pushed


def find_image(root: Path, name: str, version: str, commit: str) -> BuiltImage | None:
    """The newest image lock under dist/ of the model `name` at `version` (built from the
    registry ref, or from the version's commit)."""
    from mlopsctl.core.image.push import pushed_repository

    found: list[tuple[float, BuiltImage]] = []
    folder = root / "dist"
    for path in folder.rglob("*.lock.json") if folder.is_dir() else []:
        try:
            lock = json.loads(path.read_text(encoding="utf-8"))
            model, image = lock.get("model") or {}, lock.get("image") or {}
            revision = (lock.get("labels") or {}).get("org.opencontainers.image.revision")
        except (OSError, ValueError, AttributeError):
            continue
        if model.get("name") != name or not image.get("digest"):
            continue
        if model.get("version") != version and revision != commit:
            continue
        repository = pushed_repository(lock)
        found.append((path.stat().st_mtime, BuiltImage(path, str(image["digest"]), repository)))
    return max(found, key=lambda item: item[0])[1] if found else None


def _holder(root: Path, name: str, stage: str) -> tuple[str, str] | None:
    from mlopsctl.core.registry.state import registry_state

    state = registry_state(root).get(name)
    if state is None or state.stages.get(stage) is None:
        return None
    version = str(state.stages[stage])
    return version, state.versions.get(version, version)


def stage_pin(root: Path, name: str, stage: str) -> Pin:
    """The image the stage's holder runs, by digest; BadInput naming the command to run
    when nobody holds the stage or its version has no pushed image."""
    held = _holder(root, name, stage)
    if held is None:
        raise BadInput(
            f"no version of {name} holds {stage}",
            f"promote one first: mlopsctl promote {name} --to {stage}",
        )
    version, commit = held
    built = find_image(root, name, version, commit)
    if built is None:
        raise BadInput(
            f"{name} {version} ({stage}) has no built image under dist/",
            f"build and push it: mlopsctl build {name}@{version} --push REGISTRY/REPO",
        )
    if built.repository is None:
        raise BadInput(
            f"{name} {version}'s image ({built.digest}) was never pushed",
            f"push it: mlopsctl push {str(built.lock).removesuffix('.lock.json')}.tar REG/REPO",
        )
    return Pin(stage, version, f"{built.repository}@{built.digest}")


def export_serving(root: Path, spec: ServingSpec, out: Path) -> Export:
    """Base, one overlay per held stage, Argo CD files; stages nobody holds are listed."""
    pins, unheld = [], []
    for stage in spec.stages:
        if _holder(root, spec.name, stage) is None:
            unheld.append(stage)
            continue
        pins.append(stage_pin(root, spec.name, stage))
    if out.exists() and (out / "overlays").is_dir():
        for stale in (out / "overlays").iterdir():
            if stale.is_dir() and stale.name not in {p.stage for p in pins}:
                for file in stale.iterdir():
                    file.unlink()
                stale.rmdir()
    result = write_export(out, spec, pins, unheld)
    spec_file = out / SPEC_FILE
    write_atomic(spec_file, json.dumps(asdict(spec), indent=2, sort_keys=True) + "\n")
    result.files.append(spec_file)
    return result


def read_spec(out: Path) -> ServingSpec:
    path = out / SPEC_FILE
    try:
        return ServingSpec(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        raise BadInput(
            f"{out} was not written by `mlopsctl export serving` (no readable {SPEC_FILE})",
            "write it first: mlopsctl export serving",
        ) from None


def has_serving(root: Path, out: Path = DEFAULT_OUT) -> bool:
    return (root / out / SPEC_FILE).is_file()


@dataclass
class DeployResult:
    stage: str
    version: str
    image: str
    previous: str | None  # the image the overlay pinned before
    commit: str | None  # None when the overlay already pinned it
    files: list[str] = field(default_factory=list)
    pushed_to: str | None = None


def deploy(
    root: Path,
    stage: str,
    *,
    name: str | None = None,
    out: Path = DEFAULT_OUT,
    push: bool = False,
    tags: list[str] | None = None,
) -> DeployResult:
    """Set the stage's overlay to its holder's digest in one commit (of those files only);
    `push` sends the branch and `tags` (a promotion's) in one atomic push."""
    spec = read_spec(root / out)
    if name is not None and name != spec.name:
        raise BadInput(f"{out} serves {spec.name}, not {name}", f"deploy {spec.name}")
    pin = stage_pin(root, spec.name, stage)
    folder = root / out
    before = read_pin(folder / "overlays" / stage)
    result = DeployResult(stage, pin.version, pin.image, before.image if before else None, None)
    if before == pin:
        if push and tags:
            _push(root, result, tags)
        return result
    written = write_overlay(folder, spec.target, spec.name, pin, namespace_of(spec, stage))
    stages = sorted({p.name for p in (folder / "overlays").iterdir() if p.is_dir()})
    for file, docs in argocd_documents(spec, stages).items():
        written.append(_write_yaml(folder / "argocd" / file, docs))
    paths = [str(p.relative_to(root)) for p in written]
    vcs.git(root, "add", "--", *paths)
    changed = vcs.output(root, "diff", "--cached", "--name-only", "--", *paths).split()
    result.files = changed
    if not changed:  # the workspace had drifted from HEAD, which already pins it
        return result
    message = f"deploy: {spec.name} {stage} -> {pin.version} ({pin.digest})"
    vcs.git(root, "commit", "--quiet", "--no-verify", "-m", message, "--", *paths)
    result.commit = vcs.output(root, "rev-parse", "HEAD")
    if push:
        _push(root, result, tags or [])
    return result


def _push(root: Path, result: DeployResult, tags: list[str]) -> None:
    from mlopsctl.core.registry.tags import push_remote

    remote = push_remote(root)
    refs = ["HEAD", *(f"refs/tags/{t}" for t in tags)]
    if vcs.git_ok(root, "push", "--quiet", "--atomic", remote, *refs) is None:
        raise EnvironmentProblem(
            f"could not push the deployment to {remote} (the commit and tags are kept here)",
            f"check `git push {remote}` works, then push again: git push --follow-tags {remote}",
        )
    result.pushed_to = remote


@dataclass(frozen=True)
class Deployment:
    stage: str
    overlay: str  # path from the project's root
    version: str
    digest: str
    image: str


def deployments(root: Path, out: Path = DEFAULT_OUT) -> list[Deployment]:
    """What every overlay in git's workspace pins."""
    folder = root / out / "overlays"
    found = []
    for overlay in sorted(folder.iterdir()) if folder.is_dir() else []:
        pin = read_pin(overlay)
        if pin is not None:
            found.append(
                Deployment(
                    pin.stage, str(overlay.relative_to(root)), pin.version, pin.digest, pin.image
                )
            )
    return found


def deploy_problems(root: Path, out: Path = DEFAULT_OUT) -> list[str]:
    """Where git's deployment and the registry differ, naming both sides' digests."""
    if not (root / out).is_dir():
        return []
    spec = read_spec(root / out)
    from mlopsctl.core.registry.state import registry_state

    state = registry_state(root).get(spec.name)
    held = dict(state.stages) if state else {}
    problems = []
    deployed = {d.stage: d for d in deployments(root, out)}
    for stage, d in deployed.items():
        version = held.get(stage)
        if version is None:
            problems.append(
                f"{d.overlay} deploys {d.version} ({d.digest}) but no version holds {stage}"
            )
            continue
        commit = state.versions.get(version, version) if state else version
        built = find_image(root, spec.name, version, commit)
        registry_digest = built.digest if built else None
        if version != d.version or (registry_digest and registry_digest != d.digest):
            shown = registry_digest or "no image built here"
            problems.append(
                f"{d.overlay} deploys {d.version} ({d.digest}); the registry's {stage} is "
                f"{version} ({shown})"
            )
    for stage, version in held.items():
        if version is not None and stage in spec.stages and stage not in deployed:
            problems.append(
                f"{stage} is held by {version} but {out}/overlays/{stage} does not exist"
            )
    return problems


def deployment_json(d: Deployment) -> dict[str, Any]:
    return asdict(d)
