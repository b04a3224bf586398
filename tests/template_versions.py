"""Two template versions for update tests: a history repository whose `v0.1.0` is the
template of this checkout and whose `v0.2.0` is a changed copy, committed as a later tag."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import REPO_ROOT, git

TEMPLATE = "tabular-classification"
# what v0.2.0 changes: a new file, a changed value, a line at the top of two files users edit
NEW_FILE = "conf/model/extra_trees.yaml"
DVC_YAML_NOTE = "# (template v0.2.0) stages run in this order"
TRAIN_NOTE = "# (template v0.2.0) the estimator comes from conf/model"


def make_history(where: Path) -> Path:
    """The folder to name in MLOPSCTL_TEMPLATE_HISTORY (it holds `<template>/`, a git repo)."""
    repo = where / TEMPLATE
    shutil.copytree(REPO_ROOT / "templates" / TEMPLATE, repo)
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "template as in mlopsctl 0.1.0", cwd=repo)
    git("tag", "v0.1.0", cwd=repo)
    project = repo / "project"
    (project / NEW_FILE).write_text(
        "_target_: sklearn.ensemble.ExtraTreesClassifier\nn_estimators: 100\n"
        "random_state: ${seed}\n"
    )
    forest = project / "conf" / "model" / "random_forest.yaml.jinja"
    forest.write_text(forest.read_text().replace("n_estimators: 200", "n_estimators: 300"))
    dvc_yaml = project / "dvc.yaml.jinja"
    dvc_yaml.write_text(DVC_YAML_NOTE + "\n" + dvc_yaml.read_text())
    train = project / "src" / "{{ package_name }}" / "train.py.jinja"
    train.write_text(TRAIN_NOTE + "\n" + train.read_text())
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "template as in mlopsctl 0.2.0", cwd=repo)
    git("tag", "v0.2.0", cwd=repo)
    return where


def history_env(history: Path, data_home: Path) -> dict[str, str]:
    """The environment of an install whose template history is `history`."""
    return {
        **os.environ,
        "MLOPSCTL_TEMPLATE_HISTORY": str(history),
        "XDG_DATA_HOME": str(data_home),
    }
