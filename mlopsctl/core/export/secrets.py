"""Credentials of the exported pipelines' steps, as the cluster hands them over.

The KFP export mounts each Secret the project's Tekton export binds (`NAME-git`, `NAME-dvc`,
`NAME-registry`) into its steps as a volume under MOUNTS (optional: an absent Secret mounts
nothing), and every step calls `use_mounted_secrets()` first, on the pipeline image, where
mlopsctl is installed. It puts them where git, DVC and `mlopsctl build --push` read them,
as the Tekton Tasks' scripts do with their workspaces and `envFrom`:

- `git/`: `.git-credentials` and `.gitconfig` (or `.ssh/`) into `$HOME`;
- `dvc/`: each key becomes an environment variable (`AWS_ACCESS_KEY_ID`, ... as the remote's
  plugin reads them), as `envFrom` would;
- `registry/`: `.dockerconfigjson` (a `kubernetes.io/dockerconfigjson` Secret) becomes
  `REGISTRY_AUTH_FILE`.

No kfp import here: it also runs where kfp is not installed."""

from __future__ import annotations

import os
import shutil
from collections.abc import MutableMapping
from pathlib import Path

MOUNTS = Path("/var/run/secrets/mlopsctl")
KINDS = ("git", "dvc", "registry")


def _keys(folder: Path) -> list[Path]:
    """A Secret volume's keys (Kubernetes adds `..data` and timestamped folders beside them)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("..") and p.is_file())


def use_mounted_secrets(
    root: Path = MOUNTS,
    home: Path | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> list[str]:
    """Use the Secrets mounted under `root` (files into `home`, variables into `environ`,
    this process's by default); the kinds found (none outside a cluster)."""
    environ = os.environ if environ is None else environ
    home = home or Path(environ.get("HOME") or "/tmp")
    found = []
    git = root / "git"
    if git.is_dir():
        for name in (".git-credentials", ".gitconfig"):
            if (git / name).is_file():
                shutil.copyfile(git / name, home / name)
                (home / name).chmod(0o600)
        if (git / ".ssh").is_dir():
            shutil.copytree(git / ".ssh", home / ".ssh", dirs_exist_ok=True)
            for path in [home / ".ssh", *(home / ".ssh").rglob("*")]:
                path.chmod(0o700 if path.is_dir() else 0o600)
        found.append("git")
    dvc = root / "dvc"
    if dvc.is_dir():
        for key in _keys(dvc):
            environ[key.name] = key.read_text(encoding="utf-8")
        found.append("dvc")
    registry = root / "registry" / ".dockerconfigjson"
    if registry.is_file():
        environ["REGISTRY_AUTH_FILE"] = str(registry)
        found.append("registry")
    return found


def platform_config(secret_names: dict[str, str], kinds: tuple[str, ...]) -> dict[str, object]:
    """A KFP task's Kubernetes platform config mounting these Secrets (optional) under
    MOUNTS: what kfp-kubernetes' `use_secret_as_volume` writes, without importing it (it
    imports the whole kubernetes client, ~0.5 s); a test checks that they are equal."""
    volumes = []
    for kind in kinds:
        name = secret_names[kind]
        volumes.append(
            {
                "secretName": name,
                "mountPath": str(MOUNTS / kind),
                "optional": True,
                "secretNameParameter": {"runtimeValue": {"constant": name}},
            }
        )
    return {"kubernetes": {"secretAsVolume": volumes}}
