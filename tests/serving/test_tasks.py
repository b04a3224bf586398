"""Any tabular task: a regressor, multiclass labels, classifiers without predict_proba.

Each test fits a real scikit-learn model, saves it as `mlopsctl build` ships it (model.pkl
and a model.json with its sha256) and asks the service what a client would."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlopsctl.serving.model import sha256_file
from mlopsctl.serving.server import create_app
from tests.serving.asgi import request
from tests.serving.http import call, free_port, wait_ready

FEATURES = ["a", "b", "c"]
ROWS = [[0.1, 1.0, -0.5], [2.0, -1.0, 0.3], [-1.5, 0.2, 1.1], [0.7, 0.7, 0.7]]


def training_data(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, len(FEATURES)))
    return x, 3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + 100.0


def save(folder: Path, estimator: Any, **metadata: Any) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(estimator, protocol=5))
    meta = {"features": FEATURES, "name": "m", "sha256": sha256_file(folder / "model.pkl")}
    (folder / "model.json").write_text(json.dumps({**meta, **metadata}))
    return folder


def infer(app: Any, rows: list[list[float]], outputs: list[str] | None = None) -> Any:
    body: dict[str, Any] = {
        "inputs": [{"name": "x", "shape": [len(rows), 3], "datatype": "FP64", "data": rows}]
    }
    if outputs is not None:
        body["outputs"] = [{"name": name} for name in outputs]
    return request(app, "POST", "/v2/models/m/infer", body)


def outputs_of(reply: Any) -> dict[str, dict[str, Any]]:
    assert reply.status == 200, reply.body
    return {o["name"]: o for o in reply.json()["outputs"]}


def metadata_outputs(app: Any) -> dict[str, dict[str, Any]]:
    reply = request(app, "GET", "/v2/models/m")
    assert reply.status == 200, reply.body
    return {o["name"]: o for o in reply.json()["outputs"]}


def test_a_regressor_answers_fp64_and_says_so_in_its_metadata(tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = training_data()
    model = make_pipeline(StandardScaler(), Ridge(alpha=0.1)).fit(x, y)
    app = create_app({"MODEL_DIR": str(save(tmp_path / "reg", model))})

    meta = request(app, "GET", "/v2/models/m").json()
    assert meta["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    assert (
        meta["parameters"]["task"] == "regression"
        and json.loads(meta["parameters"]["classes"]) == []
    )

    predict = outputs_of(infer(app, ROWS))["predict"]
    assert predict["datatype"] == "FP64" and predict["shape"] == [len(ROWS)]
    assert predict["data"] == pytest.approx(model.predict(np.array(ROWS)).tolist(), rel=1e-12)
    assert all(type(v) is float for v in predict["data"])
    v1 = request(app, "POST", "/v1/models/m:predict", {"instances": ROWS})
    assert v1.json()["predictions"] == predict["data"]
    # a regressor has no probabilities to ask for
    refused = infer(app, ROWS, ["predict_proba"])
    assert refused.status == 400 and "this model answers predict" in refused.json()["error"]


def test_a_regressor_with_whole_number_answers_is_still_fp64(tmp_path: Path) -> None:
    """A DummyRegressor predicting 100.0 gives numbers that look like ints: still FP64."""
    from sklearn.dummy import DummyRegressor

    x, _ = training_data()
    model = DummyRegressor(strategy="constant", constant=100).fit(x, np.full(len(x), 100))
    app = create_app({"MODEL_DIR": str(save(tmp_path / "dummy", model))})
    predict = outputs_of(infer(app, ROWS))["predict"]
    assert predict == {"name": "predict", "shape": [4], "datatype": "FP64", "data": [100.0] * 4}


@pytest.mark.parametrize("kind", ["svc", "ridge"])
def test_a_classifier_without_predict_proba_is_served_with_its_decision_function(
    tmp_path: Path, kind: str
) -> None:
    from sklearn.linear_model import RidgeClassifier
    from sklearn.svm import SVC

    x, y = training_data()
    labels = (y > 100).astype(int)
    model = (SVC() if kind == "svc" else RidgeClassifier()).fit(x, labels)
    assert not hasattr(model, "predict_proba")
    app = create_app({"MODEL_DIR": str(save(tmp_path / kind, model))})

    outputs = metadata_outputs(app)
    assert set(outputs) == {"predict", "decision_function"}
    assert outputs["predict"]["datatype"] == "INT64"
    assert outputs["decision_function"] == {
        "name": "decision_function",
        "datatype": "FP64",
        "shape": [-1],
    }
    answered = outputs_of(infer(app, ROWS, ["predict", "decision_function"]))
    assert answered["predict"]["data"] == model.predict(np.array(ROWS)).tolist()
    decision = answered["decision_function"]
    assert decision["shape"] == [len(ROWS)] and decision["datatype"] == "FP64"
    assert decision["data"] == pytest.approx(model.decision_function(np.array(ROWS)).tolist())
    refused = infer(app, ROWS, ["predict_proba"])
    assert refused.status == 400 and "predict_proba" in refused.json()["error"]
    # the default answer never touches predict_proba
    assert set(outputs_of(infer(app, ROWS))) == {"predict"}


def test_multiclass_string_labels_are_bytes_with_one_probability_per_class(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = training_data()
    labels = np.select([y < 98, y > 102], ["low", "high"], "mid")
    model = LogisticRegression(max_iter=500).fit(x, labels)
    app = create_app({"MODEL_DIR": str(save(tmp_path / "multi", model))})

    meta = request(app, "GET", "/v2/models/m").json()
    # a parameter cannot be a list: the classes are JSON text
    assert json.loads(meta["parameters"]["classes"]) == ["high", "low", "mid"]
    outputs = {o["name"]: o for o in meta["outputs"]}
    assert outputs["predict"]["datatype"] == "BYTES"
    assert outputs["predict_proba"]["shape"] == [-1, 3]
    assert outputs["decision_function"]["shape"] == [-1, 3]

    answered = outputs_of(infer(app, ROWS, ["predict", "predict_proba"]))
    assert answered["predict"]["datatype"] == "BYTES"
    assert answered["predict"]["data"] == model.predict(np.array(ROWS)).tolist()
    proba = answered["predict_proba"]
    assert proba["shape"] == [len(ROWS), 3]
    expected = model.predict_proba(np.array(ROWS)).ravel().tolist()
    assert proba["data"] == pytest.approx(expected)


def test_multiclass_integer_labels_are_int64_even_when_model_json_says_otherwise(
    tmp_path: Path,
) -> None:
    """The estimator's own classes_ are what predict returns: they type the answer, not a
    model.json written by hand with the labels as strings."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = training_data()
    labels = np.digitize(y, [98, 102])  # 0, 1, 2
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, labels)
    folder = save(tmp_path / "ints", model, classes=["0", "1", "2"])
    app = create_app({"MODEL_DIR": str(folder)})
    meta = request(app, "GET", "/v2/models/m").json()
    assert json.loads(meta["parameters"]["classes"]) == [0, 1, 2]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]}["predict"] == "INT64"
    predict = outputs_of(infer(app, ROWS))["predict"]
    assert predict["datatype"] == "INT64"
    assert predict["data"] == model.predict(np.array(ROWS)).tolist()


def test_model_json_can_declare_the_task(tmp_path: Path) -> None:
    """An estimator that does not say what it is (no scikit-learn tags) takes model.json's
    `task` (what the template's train stage writes)."""
    from tests.serving.faulty import FailsOnNegative

    folder = save(tmp_path / "declared", FailsOnNegative(), task="regression")
    app = create_app({"MODEL_DIR": str(folder)})
    predict = outputs_of(infer(app, [[2.0, 0.0, 0.0]]))["predict"]
    assert predict["datatype"] == "FP64" and predict["data"] == [1.0]


def test_a_regressor_over_http(tmp_path: Path) -> None:
    """The image's entrypoint on a real socket answers a regressor in FP64."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = training_data()
    model = HistGradientBoostingRegressor(max_iter=20).fit(x, y)
    folder = save(tmp_path / "hgb", model)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlopsctl.serving"],
        env={
            "MODEL_DIR": str(folder),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(root),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(base, proc)
        status, meta = call(f"{base}/v2/models/m")
        assert status == 200 and meta["outputs"][0]["datatype"] == "FP64"
        columns = [[row[i] for row in ROWS] for i in range(len(FEATURES))]
        tensors = [
            {"name": n, "shape": [4], "datatype": "FP64", "data": column}
            for n, column in zip(FEATURES, columns, strict=True)
        ]
        body = {"inputs": tensors}
        status, answer = call(f"{base}/v2/models/m/infer", body)
        assert status == 200, answer
        (predict,) = answer["outputs"]
        assert predict["datatype"] == "FP64"
        assert predict["data"] == pytest.approx(model.predict(np.array(ROWS)).tolist())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_boolean_feature_is_bool_in_the_metadata_and_takes_true_false(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = training_data()
    x[:, 2] = x[:, 2] > 0  # "c" is a true/false column of the user's data, fitted as 1/0
    model = LogisticRegression().fit(x, y > 100)
    app = create_app({"MODEL_DIR": str(save(tmp_path / "b", model, boolean=["c"]))})

    metadata = request(app, "GET", "/v2/models/m").json()
    inputs = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    assert inputs == {"a": "FP64", "b": "FP64", "c": "BOOL"}
    rows = [[0.1, 1.0, True], [2.0, -1.0, False]]
    tensors = [
        {"name": name, "shape": [2], "datatype": inputs[name], "data": [r[i] for r in rows]}
        for i, name in enumerate(FEATURES)
    ]
    as_bools = outputs_of(request(app, "POST", "/v2/models/m/infer", {"inputs": tensors}))
    as_numbers = [[a, b, float(c)] for a, b, c in rows]
    v1 = request(app, "POST", "/v1/models/m:predict", {"instances": as_numbers})
    assert v1.status == 200, v1.body
    assert as_bools["predict"]["data"] == v1.json()["predictions"]
    assert as_bools["predict"]["data"] == model.predict(np.array(as_numbers)).tolist()
    # a string is no boolean; and another feature takes no true/false
    wrong = request(app, "POST", "/v1/models/m:predict", {"instances": [[0.1, 1.0, "yes"]]})
    assert wrong.status == 422 and "true, false, 1, 0 or null" in wrong.json()["error"]
    wrong = request(app, "POST", "/v1/models/m:predict", {"instances": [[True, 1.0, True]]})
    assert wrong.status == 422 and "'a' must be a number or null" in wrong.json()["error"]
