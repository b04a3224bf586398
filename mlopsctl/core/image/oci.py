"""The image as one tar that `podman load`, `docker load` and `skopeo` all read: an OCI
image layout (oci-layout, index.json, blobs/sha256/...) plus docker's manifest.json.

The manifest, config and layers carry docker schema 2 media types (an OCI layout may hold
them, as `docker save` writes since Docker 25): an OCI image config has no Healthcheck, and
podman (containers/image) drops HEALTHCHECK from any image whose manifest is OCI."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

from mlopsctl.core.files import canonical_json
from mlopsctl.core.image.layers import (
    GZIP_MEDIA_TYPE,
    TAR_MEDIA_TYPE,
    Blob,
    write_json_blob,
)

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
# the layers' OCI media types (as layers.py and base.py name them) in docker schema 2
DOCKER_LAYER_TYPES = {
    GZIP_MEDIA_TYPE: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    TAR_MEDIA_TYPE: "application/vnd.docker.image.rootfs.diff.tar",
}


def write_image_manifest(
    config: dict[str, Any], layers: list[Blob], blobs: Path
) -> tuple[Blob, Blob]:
    """Config and manifest blobs (canonical JSON, docker schema 2); the manifest's digest is
    the image's, the config's its ID."""
    config_blob = write_json_blob(config, blobs, CONFIG_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": config_blob.digest,
            "size": config_blob.size,
        },
        "layers": [
            {
                "mediaType": DOCKER_LAYER_TYPES.get(b.media_type, b.media_type),
                "digest": b.digest,
                "size": b.size,
            }
            for b in layers
        ],
    }
    return config_blob, write_json_blob(manifest, blobs, MANIFEST_TYPE)


def write_image_archive(
    output: Path,
    tag: str,
    config: Blob,
    manifest: Blob,
    layers: list[Blob],
    mtime: int,
    annotations: dict[str, str] | None = None,
) -> None:
    """One tar, entries sorted, fixed owners and times; written beside `output`, then
    renamed over it, so a failure leaves no partial image. `annotations` go on the index's
    descriptor of the manifest (a docker schema 2 manifest has none of its own)."""
    version = tag.rpartition(":")[2]
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                "digest": manifest.digest,
                "size": manifest.size,
                "annotations": {
                    **(annotations or {}),
                    "io.containerd.image.name": tag,
                    "org.opencontainers.image.ref.name": version or "latest",
                },
            }
        ],
    }
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{config.digest.split(':')[1]}",
            "RepoTags": [tag],
            "Layers": [f"blobs/sha256/{b.digest.split(':')[1]}" for b in layers],
        }
    ]
    files: dict[str, Path | bytes] = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json(index),
        "manifest.json": canonical_json(docker_manifest),
    }
    for blob in (config, manifest, *layers):
        files[f"blobs/sha256/{blob.digest.split(':')[1]}"] = blob.path
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for folder in ("blobs", "blobs/sha256"):
                info = _info(folder, mtime)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for entry in sorted(files):
                content = files[entry]
                info = _info(entry, mtime)
                if isinstance(content, bytes):
                    import io

                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
                else:
                    info.size = content.stat().st_size
                    with open(content, "rb") as fh:
                        tar.addfile(info, fh)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
