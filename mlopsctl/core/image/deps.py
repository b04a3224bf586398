"""The dependency layer: what the service and the model's pickle import, pinned to the
versions installed here, installed from wheels for the base image's Python and platform
(`pip install --target --only-binary=:all:`), byte-compiled reproducibly, with a
CycloneDX SBOM. Cached by its pins: a warm rebuild does not run pip."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Collection
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from mlopsctl.core import proc
from mlopsctl.core.files import temporary_folder, write_json
from mlopsctl.core.model.code import pickle_imports
from mlopsctl.errors import EnvironmentProblem

# what mlopsctl.serving imports besides the standard library and the model's own modules
# (httptools: uvicorn's C HTTP parser, about 20% more requests a second than its h11)
SERVICE_DISTRIBUTIONS = ("uvicorn", "httptools", "numpy")
LAYER_FORMAT = "3"  # bump when the layer's layout changes (3: .pyc name the image's paths)
# where the layer's site-packages is in the image (context.LAYERS puts deps/ at /app/deps)
IMAGE_SITE_PACKAGES = "/app/deps/site-packages"
_MANYLINUX = ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014")


@dataclass(frozen=True)
class Dependencies:
    folder: Path  # holds site-packages/ and sbom.cdx.json
    pins: dict[str, str]
    key: str

    @property
    def sbom(self) -> Path:
        return self.folder / "sbom.cdx.json"


def pickle_modules(pkl: bytes) -> set[str]:
    """Top-level modules the service imports to load and call this pickle, read without
    importing them or running anything it names: the ones the pickle names, plus pandas
    when an estimator in it was fitted on a DataFrame (the service then hands it one)."""
    found = pickle_imports(pkl)
    modules = {m.split(".")[0] for m in found.modules} | ({"pandas"} if found.dataframe else set())
    return {m for m in modules if m not in sys.stdlib_module_names and m != "__main__"}


def pinned_closure(
    roots: set[str], python: tuple[int, int], exclude: Collection[str] = ()
) -> dict[str, str]:
    """Installed versions of `roots` and everything they require (for Linux, `python`);
    never the distributions in `exclude` (the project's own, whose code is copied as source:
    resolving its name from an index would fetch whatever package has that name there)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    env = {
        "python_version": f"{python[0]}.{python[1]}",
        "python_full_version": f"{python[0]}.{python[1]}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    pins: dict[str, str] = {}
    skip = {str(canonicalize_name(name)) for name in exclude}
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        key = str(canonicalize_name(name))
        if key in pins or key in skip:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise EnvironmentProblem(
                f"{name} is not installed here, and the image pins what is installed here",
                f"pip install {name} (the version the model was trained with)",
            ) from exc
        pins[key] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return dict(sorted(pins.items()))


def distributions_of(modules: set[str], *, strict: bool = True) -> set[str]:
    """Distribution names that provide these top-level modules (sklearn -> scikit-learn).
    Not strict: modules no installed package provides are left out (an import the code may
    guard with try/except; the test load says if it is needed)."""
    provided = metadata.packages_distributions()
    found: set[str] = set()
    for module in modules:
        names = provided.get(module)
        if not names and not strict:
            continue
        if not names:
            raise EnvironmentProblem(
                f"the model's pickle imports {module!r}, which no installed package provides",
                f"install the package that provides {module} in this environment",
            )
        found.add(names[0])
    return found


def platform_tags(architecture: str) -> list[str]:
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(architecture, architecture)
    return [f"{tag}_{machine}" for tag in _MANYLINUX]


def layer_key(pins: dict[str, str], python: tuple[int, int], architecture: str) -> str:
    text = json.dumps(
        {"pins": pins, "python": list(python), "arch": architecture, "format": LAYER_FORMAT},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def prepare_dependencies(
    pins: dict[str, str], python: tuple[int, int], architecture: str, cache: Path
) -> Dependencies:
    """The installed tree for these pins, from the cache or made now with pip."""
    key = layer_key(pins, python, architecture)
    folder = cache / "deps" / key
    if (folder / "sbom.cdx.json").is_file():
        return Dependencies(folder, pins, key)
    if (sys.version_info.major, sys.version_info.minor) != python:
        raise EnvironmentProblem(
            f"the base image has Python {python[0]}.{python[1]}, but mlopsctl runs on "
            f"{sys.version_info.major}.{sys.version_info.minor}: the dependencies are pinned and "
            "byte-compiled by this Python",
            f"use a base image with Python {sys.version_info.major}.{sys.version_info.minor}, or "
            f"run mlopsctl from a Python {python[0]}.{python[1]} environment",
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with temporary_folder(f".{key}.", folder.parent) as work:
        wheels, site = work / "wheels", work / "out" / "site-packages"
        platform_args = [arg for tag in platform_tags(architecture) for arg in ("--platform", tag)]
        target = [
            *platform_args,
            "--python-version",
            f"{python[0]}.{python[1]}",
            "--implementation",
            "cp",
            "--abi",
            f"cp{python[0]}{python[1]}",
            "--only-binary=:all:",
            "--no-deps",
        ]
        requirements = [f"{name}=={version}" for name, version in pins.items()]
        _pip(["download", "--dest", str(wheels), *target, *requirements])
        _pip(
            [
                "install",
                "--target",
                str(site),
                "--no-index",
                "--find-links",
                str(wheels),
                "--no-compile",
                *target,
                *requirements,
            ]
        )
        # console scripts carry this machine's interpreter path: not wanted in the image
        shutil.rmtree(site / "bin", ignore_errors=True)
        # the packages' own test suites: a third of the layer, never imported by a service
        for tests in sorted(site.glob("*/**/tests")):
            if tests.is_dir():
                shutil.rmtree(tests, ignore_errors=True)
        _compile(site)
        sbom = cyclonedx_sbom(pins, wheels, key)
        write_json(work / "out" / "sbom.cdx.json", sbom)
        try:
            os.replace(work / "out", folder)
        except OSError:
            # another build of the same pins finished first (one cache, two builds at once):
            # its tree is the same, use it
            if not (folder / "sbom.cdx.json").is_file():
                raise
    return Dependencies(folder, pins, key)


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"]
    done = proc.run(cmd)
    if not done.ok:
        raise EnvironmentProblem(
            f"pip {args[0]} of the image's dependencies failed: {done.tail()}",
            "check that PyPI (or your index, PIP_INDEX_URL) is reachable and has Linux wheels "
            "of these versions",
        )


def _compile(site: Path) -> None:
    """.pyc files that do not depend on mtimes, hash seeds or where they were compiled:
    the image starts fast, also on a read-only root filesystem, and two builds give the
    same bytes. Each .pyc records its source's path in the image (`-s`/`-p`), not this
    build's temporary folder, so tracebacks in the image name the image's files."""
    env = dict(os.environ, PYTHONHASHSEED="0", SOURCE_DATE_EPOCH="0")
    cmd = [
        sys.executable,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(site),
        "-p",
        IMAGE_SITE_PACKAGES,
        str(site),
    ]
    proc.run(cmd, env=env)


def cyclonedx_sbom(pins: dict[str, str], wheels: Path, key: str) -> dict[str, object]:
    """CycloneDX 1.5: one component per installed distribution, with its wheel's sha256."""
    import uuid

    from mlopsctl.core.image.layers import sha256_path

    by_name: dict[str, Path] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        by_name[wheel.name.split("-")[0].lower().replace("_", "-")] = wheel
    components = []
    for name, version in pins.items():
        purl = f"pkg:pypi/{name}@{version}"
        component: dict[str, object] = {
            "type": "library",
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
        }
        found = by_name.get(name.replace("_", "-"))
        if found is not None:
            component["hashes"] = [{"alg": "SHA-256", "content": sha256_path(found).split(":")[1]}]
            component["properties"] = [{"name": "mlopsctl:wheel", "value": found.name}]
        expression, license_name = _license(name)
        if expression:
            component["licenses"] = [{"expression": expression}]
        elif license_name:
            component["licenses"] = [{"license": {"name": license_name}}]
        components.append(component)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'mlopsctl-deps-' + key)}",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "mlopsctl"}]},
            "component": {
                "type": "library",
                "name": "mlopsctl-image-dependencies",
                "bom-ref": f"mlopsctl-deps-{key}",
            },
        },
        "components": components,
    }


def _license(name: str) -> tuple[str, str]:
    """(SPDX expression, or a short license name) from the installed metadata."""
    try:
        meta = metadata.metadata(name)
    except metadata.PackageNotFoundError:
        return "", ""
    expression = str(meta["License-Expression"] or "")
    text = str(meta["License"] or "")
    return expression, text if text and "\n" not in text and len(text) < 60 else ""
