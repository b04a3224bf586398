"""The base image a model image is built on: an OCI layout folder, an oci-archive or
docker-archive tar, a plain root filesystem tar (mmdebstrap), or an image name that
podman or docker has (or skopeo can copy). Its layers are reused byte for byte."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlopsctl.core import proc
from mlopsctl.core.image.layers import GZIP_MEDIA_TYPE, TAR_MEDIA_TYPE, Blob, compress_layer
from mlopsctl.errors import BadInput, EnvironmentProblem

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PYTHON = re.compile(r"^(?:\./)?(usr/(?:local/)?bin)/python3\.(\d+)$")
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
BASE_HINT = (
    "make one offline: mmdebstrap --variant=minbase --include=python3,ca-certificates "
    "bookworm base.tar; or save one: podman pull python:3.11-slim && podman save "
    "--format oci-archive -o base.tar python:3.11-slim (see docs/build.md)"
)


@dataclass
class BaseImage:
    source: str
    config: dict[str, Any]
    layers: list[Blob]
    python: tuple[int, int]
    python_dir: str  # where python3 lives: usr/bin or usr/local/bin
    manifest_digest: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    rootfs: bool = False  # a plain root filesystem: no image builders can start FROM

    @property
    def architecture(self) -> str:
        return str(self.config.get("architecture") or "amd64")


def read_base(base: str, blobs: Path, cache: Path | None) -> BaseImage:
    """Read `base` and copy its layers into `blobs` (the new image's blob store)."""
    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / "index.json").is_file():
            raise BadInput(
                f"{base} is a folder but not an OCI image layout (no index.json)", BASE_HINT
            )
        return _read_layout(base, _DirReader(path), blobs)
    if path.is_file():
        try:
            tar = tarfile.open(path)  # noqa: SIM115 (closed below)
        except tarfile.TarError as exc:
            raise BadInput(f"{base} is not a tar file: {exc}", BASE_HINT) from exc
        with tar:
            names = set(tar.getnames()[:20000])
            reader = TarReader(tar)
            if "index.json" in names or "./index.json" in names:
                return _read_layout(base, reader, blobs)
            if "manifest.json" in names or "./manifest.json" in names:
                return _read_docker_archive(base, reader, blobs)
        return _read_rootfs(base, path, blobs, cache)
    with _saved_image(base) as saved:
        image = read_base(str(saved), blobs, cache)
    image.source = base
    return image


class _DirReader:
    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        with open(self.root / name, "rb") as fh:
            yield fh


class TarReader:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        for candidate in (name, f"./{name}"):
            try:
                member = self.tar.getmember(candidate)
            except KeyError:
                continue
            if member.issym() or member.islnk():
                target = (
                    member.linkname
                    if member.islnk()
                    else str(Path(candidate).parent / member.linkname)
                )
                with self.open(target.removeprefix("./")) as fh:
                    yield fh
                return
            extracted = self.tar.extractfile(member)
            if extracted is not None:
                yield extracted
                return
        raise BadInput(f"the base image archive has no {name}", BASE_HINT)


def _json(reader: _DirReader | TarReader, name: str) -> Any:
    with reader.open(name) as fh:
        return json.loads(fh.read())


def blob_name(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _copy_blob(
    reader: _DirReader | TarReader,
    name: str,
    blobs: Path,
    media_type: str,
    digest: str | None,
    diff_id: str | None,
) -> Blob:
    from mlopsctl.core.image.layers import sha256_path

    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / ".base.tmp"
    with reader.open(name) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    actual = sha256_path(tmp)
    if digest is not None and actual != digest:
        tmp.unlink()
        raise BadInput(f"the base image's blob {name} does not match its digest", BASE_HINT)
    if media_type not in (GZIP_MEDIA_TYPE, TAR_MEDIA_TYPE):
        with open(tmp, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        media_type = GZIP_MEDIA_TYPE if gz else TAR_MEDIA_TYPE
    final = blobs / actual.split(":")[1]
    tmp.replace(final)
    return Blob(final, actual, final.stat().st_size, media_type, diff_id)


def _read_layout(source: str, reader: _DirReader | TarReader, blobs: Path) -> BaseImage:
    index = _json(reader, "index.json")
    descriptor = _pick_manifest(reader, index.get("manifests") or [])
    manifest = _json(reader, blob_name(descriptor["digest"]))
    config = _json(reader, blob_name(manifest["config"]["digest"]))
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = []
    for layer, diff_id in zip(manifest.get("layers") or [], diff_ids, strict=False):
        media = str(layer.get("mediaType", "")).replace(
            "docker.image.rootfs.diff.tar.gzip", "oci.image.layer.v1.tar+gzip"
        )
        layers.append(
            _copy_blob(reader, blob_name(layer["digest"]), blobs, media, layer["digest"], diff_id)
        )
    return _with_python(source, config, layers, descriptor["digest"])


def _pick_manifest(
    reader: _DirReader | TarReader, manifests: list[dict[str, Any]]
) -> dict[str, Any]:
    if not manifests:
        raise BadInput("the base image's index.json lists no image", BASE_HINT)
    for descriptor in manifests:
        if descriptor.get("mediaType") in _INDEX_TYPES:
            nested = _json(reader, blob_name(descriptor["digest"]))
            return _pick_manifest(reader, nested.get("manifests") or [])
        platform = descriptor.get("platform") or {}
        if not platform or platform.get("architecture") in ("amd64", _host_architecture()):
            return descriptor
    return manifests[0]


def _host_architecture() -> str:
    import platform

    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _read_docker_archive(source: str, reader: TarReader, blobs: Path) -> BaseImage:
    (entry, *_) = _json(reader, "manifest.json")
    config = _json(reader, entry["Config"])
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = [
        _copy_blob(reader, name, blobs, "", None, diff_id)
        for name, diff_id in zip(entry["Layers"], diff_ids, strict=False)
    ]
    return _with_python(source, config, layers, None)


def _read_rootfs(source: str, path: Path, blobs: Path, cache: Path | None) -> BaseImage:
    """A root filesystem tar (as mmdebstrap writes) becomes one layer, as it is."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    if compressed:
        import gzip

        with tempfile.TemporaryDirectory(prefix="mlopsctl-rootfs-") as tmp:
            plain = Path(tmp) / "rootfs.tar"
            with gzip.open(path, "rb") as src, open(plain, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            layer = compress_layer(plain, blobs, cache)
    else:
        layer = compress_layer(path, blobs, cache)
    config = {
        "architecture": _host_architecture(),
        "os": "linux",
        "config": {"Env": [DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    image = _with_python(source, config, [layer], None)
    image.rootfs = True
    return image


def _with_python(
    source: str, config: dict[str, Any], layers: list[Blob], digest: str | None
) -> BaseImage:
    if not layers:
        raise BadInput(f"the base image {source} has no layers", BASE_HINT)
    found: tuple[int, int, str] | None = None
    for layer in layers:
        with tarfile.open(layer.path, mode="r|*") as tar:
            for member in tar:
                match = _PYTHON.match(member.name)
                if match:
                    found = (3, int(match[2]), match[1])
    if found is None:
        raise BadInput(
            f"the base image {source} has no python3 (no usr/bin/python3.X)",
            "use a base with Python: " + BASE_HINT,
        )
    return BaseImage(
        source,
        config,
        layers,
        (found[0], found[1]),
        found[2],
        digest,
        list(config.get("history") or []),
    )


@contextmanager
def _saved_image(ref: str) -> Iterator[Path]:
    """An image name: saved from podman's local images, else from the Docker daemon's; only
    where neither podman nor docker is installed, copied from its registry by skopeo."""
    with tempfile.TemporaryDirectory(prefix="mlopsctl-base-") as tmp:
        out = Path(tmp) / "base.tar"
        tools = [
            ("podman", ["podman", "save", "--format", "oci-archive", "-o", str(out), ref]),
            ("docker", ["docker", "save", "-o", str(out), ref]),
            ("skopeo", ["skopeo", "copy", f"docker://{ref}", f"oci-archive:{out}"]),
        ]
        tried = [(tool, cmd) for tool, cmd in tools[:2] if shutil.which(tool)]
        tried = tried or [(tool, cmd) for tool, cmd in tools[2:] if shutil.which(tool)]
        if not tried:
            raise EnvironmentProblem(
                f"--base {ref} is neither a file nor a folder, and there is no podman, docker "
                "or skopeo to fetch an image by name",
                BASE_HINT,
            )
        problems = []
        for tool, cmd in tried:
            out.unlink(missing_ok=True)
            fetched = proc.run(cmd)
            if fetched.ok:
                break
            problems.append(f"{tool}: {fetched.tail()}")
        else:
            raise EnvironmentProblem(
                f"cannot get the base image {ref!r}: {'; '.join(problems)}",
                f"pull it first (podman pull {ref}, or docker pull {ref}), or pass a file: "
                + BASE_HINT,
            )
        yield out
