"""A regression project for tests of metric direction: a generated project whose pipeline is
one real stage fitting a scikit-learn Ridge on a numeric target, scored by rmse (minimize).

The rmse is steered two ways a user steers it: `model.alpha` (more shrinkage, higher rmse)
and the noise in the data (`write_data(sigma=...)`: the rmse is about sigma)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import dvc, git, mlopsctl

RAW = Path("data/raw/houses.csv")
FEATURES = ["rooms", "age", "distance"]

CONFIG = """\
defaults:
  - _self_

seed: 42

data:
  raw: data/raw/houses.csv
  target: price

model:
  # Ridge's regularisation: larger shrinks the fit, and the rmse grows
  alpha: 1.0

metrics:
  primary: rmse
  direction: minimize
"""

STAGE = '''\
"""Stage `train`: fit a Ridge regressor on the first 75% of rows, score the rest."""

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import yaml
from sklearn.linear_model import Ridge

FEATURES = {features!r}

params = yaml.safe_load(Path("params.yaml").read_text())
frame = pd.read_csv(params["data"]["raw"])
cut = int(len(frame) * 0.75)
train, test = frame.iloc[:cut], frame.iloc[cut:]
target = params["data"]["target"]
model = Ridge(alpha=float(params["model"]["alpha"]))
model.fit(train[FEATURES].to_numpy(), train[target].to_numpy())
predicted = model.predict(test[FEATURES].to_numpy())
errors = predicted - test[target].to_numpy()
total = float(((test[target] - test[target].mean()) ** 2).sum())
metrics = {{
    "rmse": round(float(np.sqrt(np.mean(errors**2))), 6),
    "mae": round(float(np.mean(np.abs(errors))), 6),
    "r2": round(1 - float((errors**2).sum()) / total, 6),
}}
Path("models").mkdir(exist_ok=True)
Path("models/model.pkl").write_bytes(pickle.dumps(model, protocol=5))
meta = {{"features": FEATURES, "target": target, "task": "regression",
         "estimator": "sklearn.linear_model.Ridge", "sklearn_version": sklearn.__version__}}
Path("models/model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\\n")
Path("metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\\n")
print("train: " + ", ".join(f"{{k}}={{v}}" for k, v in metrics.items()))
'''

PIPELINE = """\
stages:
  train:
    cmd: python src/demo/regress.py
    deps:
      - data/raw/houses.csv
      - src/demo/regress.py
    params:
      - data
      - model
    outs:
      - models/model.pkl
      - models/model.json
    metrics:
      - metrics.json:
          cache: false

artifacts:
  demo:
    path: models/model.pkl
    type: model
    desc: house prices
"""


def write_data(path: Path, *, sigma: float, rows: int = 200, seed: int = 0) -> Path:
    """price = 3 rooms - 2 age + 0.5 distance + 100 + N(0, sigma): the rmse is about sigma."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    price = 3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + 100.0
    frame = pd.DataFrame(x.round(4), columns=FEATURES)
    frame["price"] = (price + rng.normal(scale=sigma, size=rows)).round(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def make_regression_project(template: Path, dest: Path) -> Path:
    """Turn a copy of a generated project into the regression project, trained, pushed and
    committed on main (no hooks: tests commit with plain git)."""
    shutil.copytree(template, dest, symlinks=True)
    for hook in ("pre-commit", "pre-push"):
        (dest / ".git" / "hooks" / hook).unlink(missing_ok=True)
    git("rm", "-r", "--quiet", "data/raw", "data/schemas", "conf", "src/demo", "tests", cwd=dest)
    for folder in ("data/raw", "src/demo", "tests"):  # files git ignored stay behind
        shutil.rmtree(dest / folder, ignore_errors=True)
    (dest / "conf").mkdir()
    (dest / "conf" / "config.yaml").write_text(CONFIG)
    (dest / "src" / "demo").mkdir(parents=True)
    (dest / "src" / "demo" / "regress.py").write_text(STAGE.format(features=FEATURES))
    (dest / "dvc.yaml").write_text(PIPELINE)
    (dest / "dvc.lock").unlink(missing_ok=True)
    # the project's gates start from mlopsctl's defaults for the primary metric
    pyproject = dest / "pyproject.toml"
    kept = [
        line
        for line in pyproject.read_text().splitlines()
        if not line.startswith(("thresholds =", "champion ="))
    ]
    pyproject.write_text("\n".join(kept) + "\n")
    write_data(dest / RAW, sigma=1.0)
    dvc("add", "--quiet", str(RAW), cwd=dest)
    mlopsctl("train", "--no-exp", cwd=dest, check=True)
    dvc("push", "--quiet", cwd=dest)
    git("add", "--all", cwd=dest)
    git("commit", "--quiet", "-m", "A regression project: Ridge on house prices, rmse", cwd=dest)
    return dest


def set_alpha(project: Path, alpha: float) -> None:
    config = project / "conf" / "config.yaml"
    text = config.read_text()
    start = text.index("  alpha: ")
    end = text.index("\n", start)
    config.write_text(text[:start] + f"  alpha: {alpha}" + text[end:])


def commit_model(project: Path, alpha: float, message: str) -> None:
    """Train with another alpha in the workspace, push, commit: a new model on main."""
    set_alpha(project, alpha)
    mlopsctl("train", "--no-exp", cwd=project, check=True)
    dvc("push", "--quiet", cwd=project)
    git("commit", "--quiet", "--all", "-m", message, cwd=project)
