"""The builders of `mlopsctl build`: the native OCI writer, podman, buildah and docker, all
from the same context."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import proc
from mlopsctl.core.files import canonical_json
from mlopsctl.core.image.base import BaseImage
from mlopsctl.core.image.context import LAYERS, image_config, link_tree_file
from mlopsctl.core.image.layers import (
    Blob,
    compress_layer,
    write_tree_tar,
)
from mlopsctl.core.image.oci import write_image_archive, write_image_manifest
from mlopsctl.core.proc import output_tail
from mlopsctl.errors import BadInput, EnvironmentProblem

BUILDERS = ("auto", "native", "podman", "buildah", "docker")


_INSTALL_HINTS = {
    "podman": "apt-get install podman",
    "buildah": "apt-get install buildah",
    "docker": "install the docker client (docker-ce-cli, or Debian's docker.io)",
}


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
        answer = proc.run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=60)
        problem = "" if answer.ok else output_tail(answer.stderr)
    except EnvironmentProblem:
        problem = "it did not answer within 60 s"
    if problem:
        raise EnvironmentProblem(
            f"--builder docker: no Docker daemon answers: {problem}",
            "start it, or point DOCKER_HOST at one (podman system service serves the Docker "
            "API: see docs/build.md), or use --builder native or --builder podman",
        )


def native_build(
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


def tool_build(
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
    built = proc.run(cmd)
    if not built.ok:
        raise EnvironmentProblem(
            f"{builder} could not build the image: {built.tail()}",
            f"rerun with --builder native, or see `{' '.join(cmd[:4])} ...` output",
        )
    inspect = proc.run([builder, "inspect", "--format", "{{.Digest}}", result.tag])
    result.digest = inspect.stdout.strip() or None
    if output is not None:
        tmp = output.with_name(f".{output.name}.tmp")
        output.parent.mkdir(parents=True, exist_ok=True)
        # v2s2: a docker manifest inside the oci-archive, or the push converts the image to
        # OCI and `podman load` of the file drops HEALTHCHECK again
        push = [builder, "push", "--format", "v2s2", result.tag, f"oci-archive:{tmp}:{result.tag}"]
        saved = proc.run(push)
        if not saved.ok:
            tmp.unlink(missing_ok=True)
            raise EnvironmentProblem(f"{builder} could not save the image: {saved.tail()}")
        # the push compresses the layers anew: the file's manifest is not the local one
        digest, result.image_id = _archive_digests(tmp)
        result.digest = digest or result.digest
        os.replace(tmp, output)
        result.output, result.size = output, output.stat().st_size


def docker_build(
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
    done = proc.run(["docker", *args], env=env)
    if not done.ok:
        raise EnvironmentProblem(
            f"docker {failure}: {done.tail()}",
            f"run `docker {args[0]} ...` by hand for its whole output, or use --builder native "
            "or podman",
        )
    return done.stdout


def _docker_has_buildx() -> bool:
    return proc.run(["docker", "buildx", "version"]).ok


def _archive_digests(path: Path) -> tuple[str | None, str | None]:
    """(manifest digest, image ID) of the one image in an image tar: the manifest an OCI
    index.json names (`docker save` writes one since Docker 25; a plain docker-archive has
    no manifest) and its config's digest, or the digest of the config that docker's
    manifest.json names."""
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


def base_archive(base: BaseImage, cache: Path) -> tuple[Path, str]:
    """The base as an image tar (OCI layout + docker's manifest.json) in the cache, for the
    builders that start FROM an image: podman and buildah (oci-archive:PATH) when the base
    is a root filesystem, and docker (`docker load`) for any base. Named by its image ID
    (the config's digest); returns the path and the name the tar gives the image."""

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
                link_tree_file(blob.path, copy)
                layers.append(Blob(copy, blob.digest, blob.size, blob.media_type, blob.diff_id))
            config_blob, manifest = write_image_manifest(config, layers, blobs)
            write_image_archive(path, tag, config_blob, manifest, layers, 0)
    return path, tag
