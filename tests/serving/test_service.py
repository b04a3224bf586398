"""The prediction service in-process: what a client sends, what it gets back."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.serving.model import ModelLoadError, sha256_file
from mlopsctl.serving.server import create_app
from tests.serving.asgi import request
from tests.serving.faulty import FailsOnNegative

INFER = "/v2/models/demo/infer"
PREDICT = "/v1/models/demo:predict"


@pytest.fixture(scope="module")
def app(model_dir: Path) -> Any:
    return create_app({"MODEL_DIR": str(model_dir)})


def expected(trained_template: Path, rows: list[list[float]], features: list[str]) -> list[Any]:
    """What the model says in-process, the way its own evaluate stage calls it (an array
    of the feature columns, in model.json's order)."""
    import numpy as np

    with open(trained_template / "models" / "model.pkl", "rb") as fh:
        pipeline = pickle.load(fh)
    return pipeline.predict(np.array(rows, dtype=np.float64)).tolist()


def test_v2_row_major_tensor_gives_the_models_predictions(
    app: Any, trained_template: Path, test_rows: tuple[list[str], list[list[float]]]
) -> None:
    features, rows = test_rows
    body = {
        "id": "r1",
        "inputs": [
            {"name": "x", "shape": [len(rows), len(features)], "datatype": "FP64", "data": rows}
        ],
    }
    reply = request(app, "POST", INFER, body)
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["id"] == "r1" and answer["model_name"] == "demo"
    (output,) = answer["outputs"]
    assert output["name"] == "predict" and output["shape"] == [len(rows)]
    assert output["data"] == expected(trained_template, rows, features)
    flat = {
        "inputs": [
            {
                "name": "x",
                "shape": [2, len(features)],
                "datatype": "FP64",
                "data": [v for row in rows[:2] for v in row],
            }
        ]
    }
    assert request(app, "POST", INFER, flat).json()["outputs"][0]["data"] == output["data"][:2]


def test_v2_one_tensor_per_feature_and_probabilities(
    app: Any, test_rows: tuple[list[str], list[list[float]]]
) -> None:
    features, rows = test_rows
    inputs = [
        {"name": f, "shape": [3, 1], "datatype": "FP64", "data": [r[i] for r in rows[:3]]}
        for i, f in reversed(list(enumerate(features)))
    ]
    body = {"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    reply = request(app, "POST", INFER, body)
    assert reply.status == 200, reply.body
    predict, proba = reply.json()["outputs"]
    row_major = {"inputs": [{"name": "x", "shape": [3, len(features)], "data": rows[:3]}]}
    assert predict["data"] == request(app, "POST", INFER, row_major).json()["outputs"][0]["data"]
    assert proba["shape"] == [3, 2] and len(proba["data"]) == 6
    assert all(abs(sum(proba["data"][i : i + 2]) - 1) < 1e-9 for i in (0, 2, 4))


def test_v1_predict_takes_lists_or_objects(
    app: Any, test_rows: tuple[list[str], list[list[float]]]
) -> None:
    features, rows = test_rows
    by_list = request(app, "POST", PREDICT, {"instances": rows[:4]})
    by_name = request(
        app, "POST", PREDICT, {"instances": [dict(zip(features, r, strict=True)) for r in rows[:4]]}
    )
    assert by_list.status == by_name.status == 200
    assert by_list.json() == by_name.json()
    assert len(by_list.json()["predictions"]) == 4


def test_health_metadata_and_unknown_paths(app: Any, model_dir: Path) -> None:
    for path in ("/health", "/v2/health/live", "/v2/health/ready", "/v2/models/demo/ready"):
        assert request(app, "GET", path).status == 200, path
    meta = request(app, "GET", "/v2/models/demo").json()
    recorded = json.loads((model_dir / "model.json").read_text())
    assert meta["name"] == "demo" and meta["versions"] == [recorded["version"]]
    assert [i["name"] for i in meta["inputs"]] == recorded["features"]
    assert meta["parameters"]["sha256"] == sha256_file(model_dir / "model.pkl")
    other = request(app, "POST", "/v2/models/other/infer", {"inputs": []})
    assert other.status == 400 and "demo" in other.json()["error"]  # the spec lists 400
    assert request(app, "GET", INFER).status == 405


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ("", 400, "empty"),
        ({"inputs": []}, 400, "inputs"),
        ({"inputs": [{"name": "x", "shape": [1, 3], "data": [1, 2, 3]}]}, 400, "[N, 30]"),
        ({"inputs": [{"name": "x", "shape": [2, 30], "data": [0.0] * 30}]}, 400, "needs 60"),
        ({"inputs": [{"name": "x", "shape": [0, 30], "data": []}]}, 400, "empty"),
        ({"inputs": [{"name": "x", "shape": [1, 30], "data": ["a"] * 30}]}, 400, "number"),
        ({"inputs": [{"name": "x", "shape": [1, 30], "data": [True] * 30}]}, 400, "number"),
        ({"inputs": [{"name": "x", "shape": [1, 30], "data": [1e308 * 10] * 30}]}, 400, "infinite"),
        (
            {
                "inputs": [
                    {"name": "mean_radius", "shape": [1], "data": [1.0]},
                    {"name": "nope", "shape": [1], "data": [1.0]},
                ]
            },
            400,
            "unknown nope",
        ),
        ({"outputs": [{"name": "nope"}], "inputs": []}, 400, "unknown output"),
    ],
)
def test_bad_v2_requests_get_a_4xx_saying_what_is_wrong(
    app: Any, body: Any, status: int, says: str
) -> None:
    raw = json.dumps(body) if isinstance(body, dict) else body
    reply = request(app, "POST", INFER, raw)
    assert reply.status == status, reply.body
    assert says in reply.json()["error"]
    assert request(app, "GET", "/v2/health/ready").status == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"instances": []}, "empty"),
        ({"rows": [[1]]}, "instances"),
        ({"instances": [[1.0] * 29]}, "has 29 values"),
        ({"instances": [{"mean_radius": 1.0}]}, "missing"),
        ({"instances": [[None] * 29 + ["x"]]}, "must be a number"),
    ],
)
def test_bad_v1_requests_get_422(app: Any, body: Any, says: str) -> None:
    reply = request(app, "POST", PREDICT, body)
    assert reply.status == 422 and says in reply.json()["error"], reply.body


def test_missing_values_are_imputed(app: Any) -> None:
    reply = request(app, "POST", PREDICT, {"instances": [[None] * 30]})
    assert reply.status == 200 and len(reply.json()["predictions"]) == 1


def test_a_body_over_the_limit_gets_413(model_dir: Path) -> None:
    small = create_app({"MODEL_DIR": str(model_dir), "MAX_BODY_BYTES": "1000"})
    body = {"instances": [[1.0] * 30] * 20}
    assert request(small, "POST", PREDICT, body).status == 413
    # without a Content-Length, counted as it arrives
    assert request(small, "POST", PREDICT, body, chunks=4).status == 413
    assert request(small, "POST", PREDICT, {"instances": [[1.0] * 30]}).status == 200


def test_metrics_count_requests_by_route_and_status(model_dir: Path) -> None:
    app = create_app({"MODEL_DIR": str(model_dir)})
    request(app, "POST", PREDICT, {"instances": [[1.0] * 30, [2.0] * 30]})
    request(app, "POST", PREDICT, "nope")
    reply = request(app, "GET", "/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
    text = reply.body.decode()
    version = json.loads((model_dir / "model.json").read_text())["version"]
    labels = f'model="demo",version="{version}"'
    assert (
        f'mlopsctl_requests_total{{route="/v1/models/{{name}}:predict",method="POST",'
        f'status="200",{labels}}} 1' in text
    )
    assert 'status="400"' in text
    assert f'mlopsctl_errors_total{{kind="bad_request",{labels}}} 1' in text
    assert f"mlopsctl_predictions_total{{{labels}}} 2" in text
    assert "mlopsctl_request_duration_seconds_count" in text


def faulty_model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "faulty"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(FailsOnNegative(), protocol=5))
    meta = {"features": ["a", "b"], "name": "faulty", "sha256": sha256_file(folder / "model.pkl")}
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


def test_a_model_error_is_a_500_with_an_id_and_the_service_keeps_serving(tmp_path: Path) -> None:
    app = create_app({"MODEL_DIR": str(faulty_model_dir(tmp_path))})
    failed = request(app, "POST", "/v1/models/faulty:predict", {"instances": [[-1, 0]]})
    assert failed.status == 500
    assert len(failed.json()["error_id"]) == 12
    fine = request(app, "POST", "/v1/models/faulty:predict", {"instances": [[2, 0], [0, 0]]})
    assert fine.status == 200 and fine.json() == {"predictions": [1, 0]}
    assert 'mlopsctl_errors_total{kind="model"' in request(app, "GET", "/metrics").body.decode()


def test_a_model_whose_bytes_changed_is_never_loaded(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    with open(copy / "model.pkl", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelLoadError, match="refusing to load"):
        create_app({"MODEL_DIR": str(copy)})
    # the image's entrypoint: one line on stderr, exit 3, nothing served
    proc = subprocess.run(
        [sys.executable, "-m", "mlopsctl.serving"],
        env={
            "MODEL_DIR": str(copy),
            "PORT": "0",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: ") and "refusing to load" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_model_without_a_recorded_sha256_is_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    meta = json.loads((copy / "model.json").read_text())
    del meta["sha256"]
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="no sha256"):
        create_app({"MODEL_DIR": str(copy)})
    assert create_app({"MODEL_DIR": str(copy), "MODEL_SHA256": sha256_file(copy / "model.pkl")})


def test_prediction_log_records_rows_and_stays_bounded(model_dir: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    app = create_app(
        {
            "MODEL_DIR": str(model_dir),
            "PREDICTION_LOG": str(logs),
            "PREDICTION_LOG_MAX_BYTES": "4096",
            "PREDICTION_LOG_BACKUPS": "2",
        }
    )
    for value in range(40):
        assert request(app, "POST", PREDICT, {"instances": [[float(value)] * 30]}).status == 200
    files = sorted(p.name for p in logs.iterdir())
    assert len(files) == 3 and files[0].endswith(".jsonl")
    assert all(p.stat().st_size <= 4096 for p in logs.iterdir())
    records = [json.loads(line) for line in (logs / files[0]).read_text().splitlines()]
    last = records[-1]
    assert last["features"]["mean_radius"] == 39.0 and last["prediction"] in (0, 1)
    assert last["model"] == "demo" and last["ts"].endswith("Z")


def test_the_service_runs_without_the_cli_pandas_or_dvc(model_dir: Path) -> None:
    """As in the image, where they are not installed: importing them fails here."""
    probe = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('typer', 'rich', 'dvc', 'pandas', 'hydra'):\n"
        "            raise ImportError(f'{name} is not in the image')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from mlopsctl.serving.server import create_app\n"
        "from tests.serving.asgi import request\n"
        f"app = create_app({{'MODEL_DIR': {str(model_dir)!r}}})\n"
        "reply = request(app, 'POST', '/v1/models/demo:predict', {'instances': [[1.0] * 30]})\n"
        "print(reply.status, [m for m in sys.modules if m.startswith('mlopsctl.c')])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.strip() == "200 []", proc.stderr


CATEGORICAL_FIT = """
import json, pickle, sys
import numpy as np, pandas as pd
from {package}.params import load_params
from {package}.train import build_pipeline, model_input
params = load_params()
cfg = params["data"]
frame = pd.read_csv(cfg["prepared_dir"] + "/train.csv")
frame["size_band"] = np.where(frame["mean_radius"] > 14, "large", "small")
frame.loc[::7, "size_band"] = None  # missing values are imputed
cfg["features"]["numeric"] = ["mean_texture", "mean_radius"]
cfg["features"]["categorical"] = ["size_band"]
pipeline = build_pipeline(params).fit(model_input(frame, cfg), frame[cfg["target"]])
rows = [[15.0, 20.0, "large"], [30.0, 9.0, "small"], [18.0, 13.0, None], [18.0, 13.0, "new"]]
with open(sys.argv[1] + "/model.pkl", "wb") as fh:
    pickle.dump(pipeline, fh, protocol=5)
expected = pipeline.predict(np.array(rows, dtype=object)).tolist()
print(json.dumps({{"rows": rows, "expected": expected}}))
"""


def test_the_templates_pipeline_with_a_categorical_feature_serves_strings(
    trained_template: Path, tmp_path: Path
) -> None:
    """A project with a categorical column: the template's own build_pipeline and
    model_input fit it; the service takes strings (and null) for it, numbers elsewhere."""
    folder = tmp_path / "model"
    folder.mkdir()
    recorded = json.loads((trained_template / "models" / "model.json").read_text())
    package_name = next(p.name for p in (trained_template / "src").iterdir() if p.is_dir())
    proc = subprocess.run(
        [sys.executable, "-c", CATEGORICAL_FIT.format(package=package_name), str(folder)],
        cwd=trained_template,
        env={**os.environ, "PYTHONPATH": "src"},
        capture_output=True,
        text=True,
        check=True,
    )
    fitted = json.loads(proc.stdout)
    meta = {
        "features": ["mean_texture", "mean_radius", "size_band"],
        "categorical": ["size_band"],
        "classes": recorded["classes"],
        "name": "banded",
        "sha256": sha256_file(folder / "model.pkl"),
    }
    (folder / "model.json").write_text(json.dumps(meta))
    app = create_app({"MODEL_DIR": str(folder)})
    assert app.model.frame_columns is None  # a plain array, no pandas per request
    reply = request(app, "POST", "/v1/models/banded:predict", {"instances": fitted["rows"]})
    assert reply.status == 200, reply.body
    assert reply.json()["predictions"] == fitted["expected"]
    inputs = request(app, "GET", "/v2/models/banded").json()["inputs"]
    assert [i["datatype"] for i in inputs] == ["FP64", "FP64", "BYTES"]
    wrong = request(app, "POST", "/v1/models/banded:predict", {"instances": [[1.0, "x", "a"]]})
    assert wrong.status == 422 and "mean_radius" in wrong.json()["error"]


def dataframe_model_dir(tmp_path: Path, features: list[str]) -> tuple[Path, Any]:
    """A model fitted the usual scikit-learn way: a ColumnTransformer selecting a
    DataFrame's columns by name."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(size=200), "colour": rng.choice(["red", "blue"], 200)})
    target = (frame["size"] > 0) ^ (frame["colour"] == "red")
    pipeline = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [("num", StandardScaler(), ["size"]), ("cat", OneHotEncoder(), ["colour"])]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    ).fit(frame, target)
    folder = tmp_path / "frame-model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(pipeline, protocol=5))
    meta = {"features": features, "name": "framed", "sha256": sha256_file(folder / "model.pkl")}
    (folder / "model.json").write_text(json.dumps(meta))
    return folder, pipeline


def test_a_model_fitted_on_a_dataframe_gets_one_in_its_column_order(tmp_path: Path) -> None:
    import pandas as pd

    # model.json lists the features in another order than the fit: requests follow model.json
    folder, pipeline = dataframe_model_dir(tmp_path, ["colour", "size"])
    app = create_app({"MODEL_DIR": str(folder)})
    assert app.model.frame_columns == ("size", "colour")
    rows = [["red", 1.5], ["blue", -0.3], ["red", -2.0]]
    reply = request(app, "POST", "/v1/models/framed:predict", {"instances": rows})
    assert reply.status == 200, reply.body
    frame = pd.DataFrame(rows, columns=["colour", "size"])
    assert reply.json()["predictions"] == pipeline.predict(frame).tolist()


def test_a_model_not_fitted_on_its_listed_features_is_refused(tmp_path: Path) -> None:
    folder, _ = dataframe_model_dir(tmp_path, ["size", "color"])
    with pytest.raises(ModelLoadError, match=r"model\.json lacks colour.*not fitted on color"):
        create_app({"MODEL_DIR": str(folder)})


def test_a_missing_value_reaches_scikit_learns_own_check(tmp_path: Path) -> None:
    """Finite rows skip scikit-learn's finiteness checks; a null (NaN) never does: a model
    that cannot take NaN refuses the request instead of predicting from it."""
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path / "bare"
    folder.mkdir()
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], [0, 1, 0, 1])
    (folder / "model.pkl").write_bytes(pickle.dumps(model, protocol=5))
    meta = {"features": ["a", "b"], "name": "bare", "sha256": sha256_file(folder / "model.pkl")}
    (folder / "model.json").write_text(json.dumps(meta))
    app = create_app({"MODEL_DIR": str(folder)})
    fine = request(app, "POST", "/v1/models/bare:predict", {"instances": [[0.0, 1.0], [1.0, 0.0]]})
    assert fine.status == 200 and fine.json() == {"predictions": [0, 1]}
    missing = request(app, "POST", "/v1/models/bare:predict", {"instances": [[None, 1.0]]})
    assert missing.status == 422 and "missing values" in missing.json()["error"]
