"""Build hook: the wheel (and the sdist) carry each template's history as a git bundle.

`mlopsctl update` and `copier update` need the template versions a project was made from;
the bundle holds them, with a tag per mlopsctl version, so an installed wheel has them with
no network. From a git checkout the history is built from the repository
(mlopsctl/core/template_history.py, loaded by path: the build has none of mlopsctl's
dependencies); from an sdist, the sdist's own bundle is used."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SDIST_DIR = "template-history"
WHEEL_DIR = "mlopsctl/template_history"


def _git(cwd: Path, args: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


class TemplateHistoryHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return  # an editable install reads the checkout's own git history
        root = Path(self.root)
        self._work = Path(tempfile.mkdtemp(prefix="mlopsctl-build-history-"))
        where = WHEEL_DIR if self.target_name == "wheel" else SDIST_DIR
        for template in sorted(p.parent.name for p in (root / "templates").glob("*/copier.yml")):
            bundle = self._bundle(root, template)
            build_data["force_include"][str(bundle)] = f"{where}/{template}.bundle"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if getattr(self, "_work", None):
            shutil.rmtree(self._work, ignore_errors=True)

    def _bundle(self, root: Path, template: str) -> Path:
        shipped = root / SDIST_DIR / f"{template}.bundle"
        try:
            common = _git(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"])
        except (RuntimeError, OSError):
            if shipped.is_file():
                return shipped  # building the wheel from an sdist
            raise RuntimeError(
                f"no git history and no {SDIST_DIR}/{template}.bundle: build from a git "
                "clone of mlopsctl or from its sdist"
            ) from None
        history = _load_history_module(root)
        repo = self._work / f"{template}.git"
        _git(self._work, ["init", "--quiet", "--bare", str(repo)])
        (repo / "objects" / "info" / "alternates").write_text(
            str(Path(common.strip()) / "objects") + "\n"
        )
        if history.build_history(root, template, repo, _git) is None:
            raise RuntimeError(f"templates/{template} has no commits in {root}")
        bundle = self._work / f"{template}.bundle"
        _git(repo, ["bundle", "create", "--quiet", str(bundle), "--all"])
        return bundle


def _load_history_module(root: Path) -> Any:
    path = root / "mlopsctl" / "core" / "template_history.py"
    spec = importlib.util.spec_from_file_location("_mlopsctl_template_history", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
