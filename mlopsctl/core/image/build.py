"""`mlopsctl build`: the build context (a Containerfile with no RUN, the dependency layer,
the model, the service), and the image built from it natively or by podman, buildah or
docker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlopsctl.core.files import write_atomic
from mlopsctl.core.image.base import BASE_HINT, BaseImage, read_base
from mlopsctl.core.image.deps import (
    SERVICE_DISTRIBUTIONS,
    Dependencies,
    distributions_of,
    pickle_modules,
    pinned_closure,
    prepare_dependencies,
)
from mlopsctl.core.image.layers import (
    APP_GID,
    APP_UID,
    Blob,
    canonical_json,
    compress_layer,
    write_tree_tar,
)
from mlopsctl.core.image.oci import write_image_archive, write_image_manifest
from mlopsctl.core.model.source import ModelSource, StagedModel, git_output, stage_model
from mlopsctl.errors import BadInput, EnvironmentProblem

BUILDERS = ("auto", "native", "podman", "buildah", "docker")
_INSTALL_HINTS = {
    "podman": "apt-get install podman",
    "buildah": "apt-get install buildah",
    "docker": "install the docker client (docker-ce-cli, or Debian's docker.io)",
}
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


@dataclass
class BuildResult:
    tag: str
    builder: str
    context: Path
    output: Path | None = None
    digest: str | None = None  # the manifest's digest, where the builder gives one
    image_id: str | None = None  # the config's digest (what docker and podman call the ID)
    lock: Path | None = None
    sbom: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)
    size: int = 0
    layers: list[dict[str, Any]] = field(default_factory=list)


def default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mlopsctl"


def pick_builder(builder: str) -> str:
    if builder not in BUILDERS:
        raise BadInput(f"unknown builder {builder!r}", f"choose one of {', '.join(BUILDERS)}")
    if builder == "auto":
        return "native"
    if shutil.which(builder) is None:
        raise EnvironmentProblem(
            f"--builder {builder}: {builder} is not installed",
            f"use --builder native (needs nothing), or {_INSTALL_HINTS[builder]}",
        )
    if builder == "docker":
        _check_docker_daemon()
    return builder


def _check_docker_daemon() -> None:
    """The docker client talks to a daemon (DOCKER_HOST, or the current docker context)."""
    try:
        proc = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        problem = _last_line(proc.stderr) if proc.returncode != 0 else ""
    except subprocess.TimeoutExpired:
        problem = "it did not answer within 60 s"
    if problem:
        raise EnvironmentProblem(
            f"--builder docker: no Docker daemon answers: {problem}",
            "start it, or point DOCKER_HOST at one (podman system service serves the Docker "
            "API: see docs/build.md), or use --builder native or --builder podman",
        )


def _last_line(text: str) -> str:
    """The last line that says something: not the usage and "Run 'docker X --help'" that
    docker ends its errors with."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    said = [ln for ln in lines if not ln.startswith(("Run '", "See '", "Usage:"))]
    return (said or lines or [""])[-1]


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
    with tempfile.TemporaryDirectory(prefix="mlopsctl-build-") as tmp:
        work = Path(tmp)
        blobs = work / "blobs"
        base_image = read_base(base, blobs, cache / "layers")
        context = context_only or work / "context"
        staged = stage_model(source, context / "model")
        deps = _dependencies(staged, base_image, cache)
        epoch = source_date_epoch(source)
        tag = tag or default_tag(staged)
        labels = image_labels(source, staged, epoch)
        from_ref = (
            _from_ref(base)
            if not base_image.rootfs
            else f"oci-archive:{base_archive(base_image, cache)[0]}"
        )
        write_context(context, staged, deps, from_ref, base_image, labels)
        result = BuildResult(tag, builder, context, labels=labels)
        if context_only is not None:
            return result
        output = output or Path("dist") / "image.tar"
        if builder == "native":
            _native_build(result, base_image, blobs, work, output, epoch, cache)
        elif builder == "docker":
            _docker_build(result, base_image, cache, epoch, output)
        else:
            _tool_build(result, builder, from_ref, epoch, output)
        _write_lock(result, staged, deps, base_image, epoch)
        return result


def _dependencies(staged: StagedModel, base: BaseImage, cache: Path) -> Dependencies:
    modules = pickle_modules((staged.folder / "model.pkl").read_bytes())
    roots = distributions_of(modules) | set(SERVICE_DISTRIBUTIONS)
    pins = pinned_closure(roots, base.python)
    return prepare_dependencies(pins, base.python, base.architecture, cache)


def source_date_epoch(source: ModelSource) -> int:
    """SOURCE_DATE_EPOCH if set, else the time of the model's commit (HEAD for the
    workspace), else 0: never the time of the build."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    if source.project is None:
        return 0
    when = git_output(source.project, "show", "-s", "--format=%ct", source.commit or "HEAD")
    return int(when) if when.isdigit() else 0


def default_tag(staged: StagedModel) -> str:
    import re

    name = re.sub(r"[^a-z0-9._/-]+", "-", staged.name.lower()).strip("-.") or "model"
    version = re.sub(r"[^A-Za-z0-9_.-]+", "-", staged.version)[:128]
    return f"localhost/{name}:{version}"


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
        commit = git_output(source.project, "rev-parse", f"{rev}^{{commit}}")
        if commit:
            labels["org.opencontainers.image.revision"] = commit
        remote = git_output(source.project, "config", "--get", "remote.origin.url")
        if remote:
            labels["org.opencontainers.image.source"] = remote
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


def base_archive(base: BaseImage, cache: Path) -> tuple[Path, str]:
    """The base as an image tar (OCI layout + docker's manifest.json) in the cache, for the
    builders that start FROM an image: podman and buildah (oci-archive:PATH) when the base
    is a root filesystem, and docker (`docker load`) for any base. Named by its image ID
    (the config's digest); returns the path and the name the tar gives the image."""
    import hashlib

    config = {"created": "1970-01-01T00:00:00Z", **base.config}
    history = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    if len(history) != len(base.layers):
        # a layer without a history entry breaks builders that commit each step (buildah
        # behind podman's Docker API: "history lists N non-empty layers, but we have M")
        config["history"] = [
            {"created": config["created"], "created_by": "mlopsctl build: base layer"}
            for _ in base.layers
        ]
    image_id = hashlib.sha256(canonical_json(config)).hexdigest()
    path = cache / "bases" / f"{image_id[:24]}.tar"
    tag = f"localhost/mlopsctl-base:{image_id[:24]}"
    if not path.is_file():
        with tempfile.TemporaryDirectory(prefix="mlopsctl-base-") as tmp:
            blobs = Path(tmp)
            layers = []
            for blob in base.layers:
                copy = blobs / blob.path.name
                _link_tree_file(blob.path, copy)
                layers.append(Blob(copy, blob.digest, blob.size, blob.media_type, blob.diff_id))
            config_blob, manifest = write_image_manifest(config, layers, blobs)
            write_image_archive(path, tag, config_blob, manifest, layers, 0)
    return path, tag


def _link_tree_file(src: Path, dst: Path) -> None:
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


def _from_ref(base: str) -> str:
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


def _native_build(
    result: BuildResult,
    base: BaseImage,
    blobs: Path,
    work: Path,
    output: Path,
    epoch: int,
    cache: Path,
) -> None:
    layers: list[Blob] = list(base.layers)
    for folder, target in LAYERS:
        tar_path = work / f"{folder}.tar"
        write_tree_tar(result.context / folder, target, tar_path, epoch)
        layers.append(compress_layer(tar_path, blobs, cache / "layers"))
        tar_path.unlink()
    diff_ids = [str(b.diff_id) for b in layers]
    config = image_config(base, result.labels, diff_ids, epoch)
    annotations = {k: v for k, v in result.labels.items() if k.startswith("org.opencontainers")}
    config_blob, manifest = write_image_manifest(config, layers, blobs)
    write_image_archive(output, result.tag, config_blob, manifest, layers, epoch, annotations)
    roles = ["base"] * len(base.layers) + [folder for folder, _ in LAYERS]
    result.output, result.digest, result.image_id = output, manifest.digest, config_blob.digest
    result.size = output.stat().st_size
    result.layers = [
        {"role": role, "digest": b.digest, "diff_id": b.diff_id, "size": b.size}
        for role, b in zip(roles, layers, strict=True)
    ]


def _tool_build(
    result: BuildResult, builder: str, from_ref: str, epoch: int, output: Path | None
) -> None:
    """podman or buildah on the same context, offline, chroot isolation, clamped times."""
    cmd = [
        builder,
        "build" if builder == "podman" else "bud",
        "--isolation",
        "chroot",
        "--timestamp",
        str(epoch),
        # no --network none: chroot isolation refuses it, and with no RUN nothing uses it
        # docker format keeps HEALTHCHECK, which an OCI image config cannot hold
        "--format",
        "docker",
    ]
    cmd += [
        "--build-arg",
        f"BASE={from_ref}",
        "-f",
        str(result.context / "Containerfile"),
        "-t",
        result.tag,
        str(result.context),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()][-1:]
        raise EnvironmentProblem(
            f"{builder} could not build the image: {detail[0] if detail else proc.returncode}",
            f"rerun with --builder native, or see `{' '.join(cmd[:4])} ...` output",
        )
    inspect = subprocess.run(
        [builder, "inspect", "--format", "{{.Digest}}", result.tag],
        capture_output=True,
        text=True,
        check=False,
    )
    result.digest = inspect.stdout.strip() or None
    if output is not None:
        tmp = output.with_name(f".{output.name}.tmp")
        output.parent.mkdir(parents=True, exist_ok=True)
        # v2s2: a docker manifest inside the oci-archive, or the push converts the image to
        # OCI and `podman load` of the file drops HEALTHCHECK again
        push = [builder, "push", "--format", "v2s2", result.tag, f"oci-archive:{tmp}:{result.tag}"]
        saved = subprocess.run(push, capture_output=True, text=True, check=False)
        if saved.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise EnvironmentProblem(f"{builder} could not save the image: {saved.stderr.strip()}")
        # the push compresses the layers anew: the file's manifest is not the local one
        digest, result.image_id = _archive_digests(tmp)
        result.digest = digest or result.digest
        os.replace(tmp, output)
        result.output, result.size = output, output.stat().st_size


def _docker_build(
    result: BuildResult, base: BaseImage, cache: Path, epoch: int, output: Path
) -> None:
    """The docker client against its daemon (DOCKER_HOST): it cannot start FROM an
    oci-archive, so the base is loaded into the daemon first (`docker load` of the base's
    image tar), then the same context is built FROM it and saved with `docker save`."""
    archive, base_tag = base_archive(base, cache)
    _docker(["load", "-i", str(archive)], "could not load the base image")
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}  # buildx passes it to BuildKit
    cmd = ["docker", "build"]
    if _docker_has_buildx():
        cmd.append("--load")  # into the daemon's images, whatever the buildx driver
    else:
        # without buildx the client warns and falls back to the legacy builder; say so
        env["DOCKER_BUILDKIT"] = "0"
    cmd += [
        "--build-arg",
        f"BASE={base_tag}",
        "-f",
        str(result.context / "Containerfile"),
        "-t",
        result.tag,
        str(result.context),
    ]
    _docker(cmd[1:], "could not build the image", env)
    ids = _docker(["image", "inspect", "--format", "{{.Id}}", result.tag], "has no image")
    result.image_id = ids.strip() or None
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        _docker(["save", "-o", str(tmp), result.tag], "could not save the image")
        result.digest, image_id = _archive_digests(tmp)
        result.image_id = result.image_id or image_id
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the docker client writes it 0600
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    result.output, result.size = output, output.stat().st_size


def _docker(args: list[str], failure: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        detail = _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit {proc.returncode}"
        raise EnvironmentProblem(
            f"docker {failure}: {detail}",
            f"run `docker {args[0]} ...` by hand for its whole output, or use --builder native "
            "or podman",
        )
    return proc.stdout


def _docker_has_buildx() -> bool:
    proc = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
    return proc.returncode == 0


def _archive_digests(path: Path) -> tuple[str | None, str | None]:
    """(manifest digest, image ID) of the one image in an image tar: the manifest an OCI
    index.json names (`docker save` writes one since Docker 25; a plain docker-archive has
    no manifest) and its config's digest, or the digest of the config that docker's
    manifest.json names."""
    import hashlib
    import tarfile

    from mlopsctl.core.image.base import TarReader, blob_name

    def read(reader: TarReader, name: str) -> bytes | None:
        try:
            with reader.open(name) as fh:
                return fh.read()
        except BadInput:  # no such entry
            return None

    digest = image_id = None
    try:
        with tarfile.open(path) as tar:
            reader = TarReader(tar)
            index = json.loads(read(reader, "index.json") or b"{}")
            manifests = index.get("manifests") or []
            if len(manifests) == 1:
                digest = str(manifests[0]["digest"])
                manifest = json.loads(read(reader, blob_name(digest)) or b"{}")
                image_id = (manifest.get("config") or {}).get("digest")
            entries = json.loads(read(reader, "manifest.json") or b"[]")
            config = read(reader, entries[0]["Config"]) if len(entries) == 1 else None
            if image_id is None and config is not None:
                image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    except (tarfile.TarError, ValueError, KeyError, TypeError):
        pass
    return digest, image_id


def _write_lock(
    result: BuildResult, staged: StagedModel, deps: Dependencies, base: BaseImage, epoch: int
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
        "labels": result.labels,
        "source_date_epoch": epoch,
    }
    path = result.output.with_name(f"{stem}.lock.json")
    write_atomic(path, json.dumps(lock, indent=2, sort_keys=True) + "\n")
    result.lock, result.sbom = path, sbom
