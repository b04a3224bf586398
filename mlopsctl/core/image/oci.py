"""The image as one tar that `podman load`, `docker load` and `skopeo` all read: an OCI
image layout (oci-layout, index.json, blobs/sha256/...) plus docker's manifest.json."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

from mlopsctl.core.image.layers import Blob, canonical_json, write_json_blob

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def write_image_manifest(
    config: dict[str, Any], layers: list[Blob], blobs: Path, annotations: dict[str, str]
) -> tuple[Blob, Blob]:
    """Config and manifest blobs (canonical JSON); the manifest's digest is the image's."""
    config_blob = write_json_blob(config, blobs, CONFIG_TYPE)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": config_blob.digest,
            "size": config_blob.size,
        },
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in layers],
        "annotations": annotations,
    }
    return config_blob, write_json_blob(manifest, blobs, MANIFEST_TYPE)


def write_image_archive(
    output: Path, tag: str, config: Blob, manifest: Blob, layers: list[Blob], mtime: int
) -> None:
    """One tar, entries sorted, fixed owners and times; written beside `output`, then
    renamed over it, so a failure leaves no partial image."""
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
