"""The project's own code travels with the model: the modules of src/<package>/ that the
pickle imports are copied into the image's app layer as source, never resolved from a
package index, and a model that would not load in the image is refused."""

from __future__ import annotations

import io
import json
import sys
import sysconfig
import tarfile
from pathlib import Path

from tests.conftest import mlopsctl, run


def layer_files(image_tar: Path) -> dict[str, set[str]]:
    """Paths in each of the image's layers, by layer digest."""
    found: dict[str, set[str]] = {}
    with tarfile.open(image_tar) as image:
        index = json.loads(image.extractfile("index.json").read())  # type: ignore[union-attr]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads(image.extractfile(f"blobs/sha256/{digest}").read())  # type: ignore[union-attr]
        for layer in manifest["layers"]:
            data = image.extractfile(f"blobs/sha256/{layer['digest'].split(':')[1]}").read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                found[layer["digest"]] = set(inner.getnames())
    return found


def test_the_image_holds_the_modules_the_model_imports_as_source(
    features_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "image.tar"
    proc = mlopsctl(
        "build", "--json", "--base", str(small_base), "-o", str(out),
        cwd=features_project, env=build_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lock = json.loads((tmp_path / "image.lock.json").read_text())
    # features.py is named by the pickle, limits.py imported by it, __init__ the package's
    assert lock["project_code"] == [
        "app/demo/__init__.py",
        "app/demo/features.py",
        "app/demo/limits.py",
    ]
    assert "demo" not in lock["dependencies"]
    app_layer = list(layer_files(out).values())[-1]
    assert {
        "app/demo/features.py",
        "app/demo/limits.py",
        "app/mlopsctl/serving/app.py",
    } <= app_layer
    assert "app/demo/train.py" not in app_layer  # not what the model imports


def test_a_model_needing_a_module_that_is_not_there_is_refused(
    features_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    (features_project / "src" / "demo" / "features.py").unlink()
    out = tmp_path / "image.tar"
    proc = mlopsctl(
        "build", "--base", str(small_base), "-o", str(out), cwd=features_project, env=build_env
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "the model needs the module 'demo.features'" in proc.stderr
    assert "hint:" in proc.stderr
    assert not out.exists()


def test_a_model_from_a_commit_gets_that_commits_code(
    features_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    """--rev HEAD builds with the committed features.py, whatever the workspace holds."""
    (features_project / "src" / "demo" / "features.py").unlink()
    out = tmp_path / "i.tar"
    proc = mlopsctl(
        "build", "--json", "--rev", "HEAD", "--base", str(small_base), "-o", str(out),
        cwd=features_project, env=build_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lock = json.loads((tmp_path / "i.lock.json").read_text())
    assert "app/demo/features.py" in lock["project_code"]


def test_an_editable_install_of_the_project_never_reaches_the_image(
    features_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    """After `pip install -e .` the project's name is an installed distribution; a package
    index may hold an unrelated package of that name (dependency confusion): the image and
    its SBOM must not have it."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, check=True)
    # a new environment on top of this one (pip, hatchling, mlopsctl's dependencies), so the
    # editable install lands in the new environment only
    site = next((venv / "lib").glob("python3.*/site-packages"))
    (site / "_parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    run([*install, "--no-index", "-e", str(features_project)], tmp_path, env=build_env, check=True)
    shown = run([python, "-m", "pip", "show", "demo"], tmp_path, env=build_env)
    assert shown.returncode == 0 and "Editable project location" in shown.stdout
    out = tmp_path / "image.tar"
    proc = run(
        [python, "-m", "mlopsctl", "build", "--json", "--base", str(small_base), "-o", str(out)],
        features_project,
        env=build_env,
    )
    assert proc.returncode == 0, proc.stderr
    lock = json.loads((tmp_path / "image.lock.json").read_text())
    assert "demo" not in lock["dependencies"] and "scikit-learn" in lock["dependencies"]
    sbom = json.loads((tmp_path / "image.cdx.json").read_text())
    assert "demo" not in {c["name"] for c in sbom["components"]}
    assert "app/demo/features.py" in lock["project_code"]
