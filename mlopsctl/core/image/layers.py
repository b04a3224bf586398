"""Reproducible layer tars: sorted entries, mtimes clamped, fixed owners, no user names,
gzip without a timestamp. Same files in, same digest out, wherever and whenever."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from mlopsctl.core.files import canonical_json, sha256_file

APP_UID = 1001
APP_GID = 0
GZIP_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Blob:
    """A file in the layout's blobs/ store, with what a manifest says about it."""

    path: Path
    digest: str  # sha256:...
    size: int
    media_type: str
    diff_id: str | None = None  # layers: the digest of the uncompressed tar


def sha256_path(path: Path) -> str:
    """An OCI digest (`sha256:...`) of a file."""
    return "sha256:" + sha256_file(path)


def write_tree_tar(source: Path, prefix: str, dest: Path, mtime: int) -> None:
    """`source`'s tree as a tar whose entries sit under `prefix` (e.g. "app/deps"), with the
    parents of `prefix` as directories. Group-writable for OpenShift's arbitrary UIDs."""
    entries: list[tuple[str, Path | None]] = []
    parts = prefix.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        entries.append(("/".join(parts[:depth]), None))
    for root, dirs, files in os.walk(source):
        dirs.sort()
        rel = Path(root).relative_to(source)
        for name in sorted(dirs + files):
            entries.append(((Path(prefix) / rel / name).as_posix(), Path(root) / name))
    entries.sort(key=lambda e: e[0])
    with (
        open(dest, "wb") as raw,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in entries:
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.uname, info.gname = APP_UID, APP_GID, "", ""
            info.mtime = mtime
            if path is None or stat.S_ISDIR(path.lstat().st_mode):
                info.type, info.mode = tarfile.DIRTYPE, 0o775
                tar.addfile(info)
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                info.type, info.mode = tarfile.SYMTYPE, 0o777
                info.linkname = os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                info.mode = 0o775 if st.st_mode & 0o111 else 0o664
                info.size = st.st_size
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)


def compress_layer(tar_path: Path, blobs: Path, cache: Path | None) -> Blob:
    """gzip `tar_path` into `blobs/` (name: its digest). A layer compressed before, found in
    `cache` by the uncompressed digest, is reused as it is."""
    diff_id = sha256_path(tar_path)
    cached = cache / f"{diff_id.split(':')[1]}.tar.gz" if cache is not None else None
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / f".{diff_id.split(':')[1]}.tmp"
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, tmp)
    else:
        with (
            open(tar_path, "rb") as src,
            open(tmp, "wb") as out,
            gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz,
        ):
            shutil.copyfileobj(src, gz, 1 << 20)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            part = cached.with_suffix(".part")
            shutil.copyfile(tmp, part)
            os.replace(part, cached)
    digest = sha256_path(tmp)
    final = blobs / digest.split(":")[1]
    os.replace(tmp, final)
    return Blob(final, digest, final.stat().st_size, GZIP_MEDIA_TYPE, diff_id)


def write_json_blob(value: object, blobs: Path, media_type: str) -> Blob:
    data = canonical_json(value)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs.mkdir(parents=True, exist_ok=True)
    path = blobs / digest.split(":")[1]
    path.write_bytes(data)
    return Blob(path, digest, len(data), media_type)
