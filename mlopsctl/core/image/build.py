"""`mlopsctl build`: the build context (a Containerfile with no RUN, the dependency layer,
the model, the service), and the image built from it natively or by podman, buildah or
docker."""

from __future__ import annotations

import os
from pathlib import Path

from mlopsctl.core.files import temporary_folder, write_atomic, write_json
from mlopsctl.core.image.base import BASE_HINT, BaseImage, read_base
from mlopsctl.core.image.builders import (
    BuildResult,
    base_archive,
    docker_build,
    native_build,
    pick_builder,
    tool_build,
)
from mlopsctl.core.image.context import (
    from_ref_of,
    image_labels,
    source_date_epoch,
    write_context,
)
from mlopsctl.core.image.deps import (
    SERVICE_DISTRIBUTIONS,
    Dependencies,
    distributions_of,
    pickle_modules,
    pinned_closure,
    prepare_dependencies,
)
from mlopsctl.core.model.code import (
    ProjectCode,
    load_problem_hint,
    own_distributions,
    pickle_imports,
    stage_project_code,
    try_load,
)
from mlopsctl.core.model.source import ModelSource, StagedModel, stage_model
from mlopsctl.errors import BadInput, EnvironmentProblem


def default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mlopsctl"


def build_image(
    source: ModelSource,
    *,
    base: str | None,
    builder: str = "auto",
    tag: str | None = None,
    output: Path | None = None,
    context_only: Path | None = None,
    cache: Path | None = None,
) -> BuildResult:
    builder = pick_builder(builder)
    if not base:
        raise EnvironmentProblem("no base image: pass --base", BASE_HINT)
    if context_only is not None and context_only.exists() and any(context_only.iterdir()):
        raise BadInput(f"{context_only} is not empty", "name a new folder for --context-only")
    cache = cache or default_cache()
    with temporary_folder("mlopsctl-build-") as work:
        blobs = work / "blobs"
        base_image = read_base(base, blobs, cache / "layers")
        context = context_only or work / "context"
        staged = stage_model(source, context / "model")
        pkl = (staged.folder / "model.pkl").read_bytes()
        code = stage_project_code(source, pickle_imports(pkl).modules, context / "app")
        deps = _dependencies(source, pkl, code, base_image, cache)
        _check_model_loads(staged, code, deps, base_image)
        epoch = source_date_epoch(source)
        tag = tag or default_tag(staged)
        labels = image_labels(source, staged, epoch)
        from_ref = (
            from_ref_of(base)
            if not base_image.rootfs
            else f"oci-archive:{base_archive(base_image, cache)[0]}"
        )
        write_context(context, staged, deps, from_ref, base_image, labels)
        result = BuildResult(tag, builder, context, labels=labels)
        if context_only is not None:
            return result
        output = output or Path("dist") / "image.tar"
        if builder == "native":
            native_build(result, base_image, blobs, work, output, epoch, cache)
        elif builder == "docker":
            docker_build(result, base_image, cache, epoch, output)
        else:
            tool_build(result, builder, from_ref, epoch, output)
        _write_lock(result, staged, code, deps, base_image, epoch)
        return result


def _dependencies(
    source: ModelSource, pkl: bytes, code: ProjectCode, base: BaseImage, cache: Path
) -> Dependencies:
    """What the service, the pickle and the project code it needs import; never the
    project's own distribution (its code travels as source)."""
    modules = pickle_modules(pkl) - code.packages
    roots = distributions_of(modules) | set(SERVICE_DISTRIBUTIONS)
    roots |= distributions_of(code.imports - code.packages - modules, strict=False)
    own = own_distributions(source, code)
    pins = pinned_closure(roots - own, base.python, exclude=own)
    return prepare_dependencies(pins, base.python, base.architecture, cache)


def _check_model_loads(
    staged: StagedModel, code: ProjectCode, deps: Dependencies, base: BaseImage
) -> None:
    """Unpickle the model with exactly what the image will hold: its dependency layer and
    the copied source (skipped for another CPU architecture, which cannot run here)."""
    import platform

    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    if base.architecture != machine:
        return
    failure = try_load(staged.folder / "model.pkl", [deps.folder / "site-packages", code.folder])
    if failure is not None:
        message = (
            f"the model needs the module {failure.missing!r}, which the image would not have"
            if failure.missing
            else f"the model does not load with the image's dependencies: {failure.error}"
        )
        raise EnvironmentProblem(message, load_problem_hint(failure, code))


def default_tag(staged: StagedModel) -> str:
    import re

    name = re.sub(r"[^a-z0-9._/-]+", "-", staged.name.lower()).strip("-.") or "model"
    version = re.sub(r"[^A-Za-z0-9_.-]+", "-", staged.version)[:128]
    return f"localhost/{name}:{version}"


def _write_lock(
    result: BuildResult,
    staged: StagedModel,
    code: ProjectCode,
    deps: Dependencies,
    base: BaseImage,
    epoch: int,
) -> None:
    if result.output is None:
        return
    stem = result.output.name.removesuffix(".tar")
    sbom = result.output.with_name(f"{stem}.cdx.json")
    write_atomic(sbom, deps.sbom.read_bytes())
    lock = {
        "image": {
            "tag": result.tag,
            "digest": result.digest,
            "id": result.image_id,
            "builder": result.builder,
            "file": result.output.name,
            "layers": result.layers,
        },
        "base": {
            "source": base.source,
            "manifest_digest": base.manifest_digest,
            "layers": [b.digest for b in base.layers],
            "python": f"{base.python[0]}.{base.python[1]}",
        },
        "model": {"name": staged.name, "version": staged.version, "sha256": staged.sha256},
        "dependencies": deps.pins,
        "project_code": [f"app/{name}" for name in code.files],
        "labels": result.labels,
        "source_date_epoch": epoch,
    }
    path = result.output.with_name(f"{stem}.lock.json")
    write_json(path, lock)
    result.lock, result.sbom = path, sbom
