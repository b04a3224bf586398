"""Requests that are the client's fault get a 4xx JSON error (never a 500 counted as a model
error), the protocol's own routes and shapes, and Triton's binary tensor extension."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlopsctl.serving.model import ModelLoadError, sha256_file
from mlopsctl.serving.server import create_app
from tests.serving.asgi import request

INFER = "/v2/models/demo/infer"
PREDICT = "/v1/models/demo:predict"


@pytest.fixture(scope="module")
def app(model_dir: Path) -> Any:
    return create_app({"MODEL_DIR": str(model_dir)})


def model_errors(app: Any) -> int:
    text = request(app, "GET", "/metrics").body.decode()
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('mlopsctl_errors_total{kind="model"')
    )


def row_tensor(data: list[Any], datatype: Any = "FP64") -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": [1, 30], "datatype": datatype, "data": data}]}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (INFER, row_tensor([1.0] * 30, {"a": 1}), 400),  # a datatype that is an object
        (INFER, row_tensor([1.0] * 30, ["FP64"]), 400),
        (INFER, "[" * 1000 + "]" * 1000, 400),  # JSON nested 1,000 deep
        (INFER, '{"inputs": ' + "[" * 5000 + "]" * 5000 + "}", 400),
        (INFER, json.dumps(row_tensor([[[[[[1.0]]]]]] * 30)), 400),
        (INFER, row_tensor([10**400] + [1.0] * 29), 400),  # an integer beyond float64
        (PREDICT, {"instances": [[10**400] + [1.0] * 29]}, 422),
        (PREDICT, {"instances": [[[[[[[1.0]]]]]] * 30]}, 422),
        (PREDICT, '{"instances": ' + "[" * 3000 + "]" * 3000 + "}", 400),
    ],
)
def test_malformed_requests_are_the_clients_fault(
    app: Any, path: str, body: Any, status: int
) -> None:
    before = model_errors(app)
    raw = body if isinstance(body, str) else json.dumps(body)
    reply = request(app, "POST", path, raw)
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json" and reply.json()["error"]
    assert model_errors(app) == before


def test_the_protocols_routes_and_answers(app: Any, model_dir: Path) -> None:
    version = json.loads((model_dir / "model.json").read_text())["version"]
    assert request(app, "GET", "/v2/").json() == request(app, "GET", "/v2").json()
    assert "binary_tensor_data" in request(app, "GET", "/v2").json()["extensions"]
    for path in ("/v2/models/demo/ready", f"/v2/models/demo/versions/{version}/ready"):
        reply = request(app, "GET", path)
        assert reply.status == 200 and reply.json() == {"name": "demo", "ready": True}, path
    assert request(app, "GET", "/v2/models/demo/versions/v9/ready").status == 404
    meta = request(app, "GET", "/v2/models/demo").json()
    # a parameter is a string, number or boolean: the classes are JSON text
    assert all(isinstance(v, str | int | float | bool) for v in meta["parameters"].values())
    assert json.loads(meta["parameters"]["classes"]) == [0, 1]
    wrong_method = request(app, "GET", INFER)
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"
    assert request(app, "DELETE", "/v2/health/ready").headers["allow"] == "GET, HEAD"
    unknown = request(app, "POST", "/v2/models/other/infer", {"inputs": []})
    assert unknown.status == 400 and unknown.json()["error"]


def test_a_model_json_that_does_not_match_an_array_fitted_model_is_refused(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], [0, 1, 0, 1])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    meta = {"features": ["a", "b", "c"], "sha256": sha256_file(tmp_path / "model.pkl")}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="lists 3 features, but the model was fitted on 2"):
        create_app({"MODEL_DIR": str(tmp_path)})


def binary_request(header: dict[str, Any], *blobs: bytes) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"inference-header-content-length": str(len(head))}


def split_binary(reply: Any) -> tuple[dict[str, Any], bytes]:
    length = int(reply.headers["inference-header-content-length"])
    return json.loads(reply.body[:length]), reply.body[length:]


def test_binary_tensors_in_and_out(app: Any, test_rows: tuple[list[str], Any]) -> None:
    _, rows = test_rows
    rows = rows[:5]
    plain = request(app, "POST", INFER, row_tensor_n(rows)).json()["outputs"][0]["data"]
    data = np.array(rows, dtype="<f8").tobytes()
    tensor = {
        "name": "x",
        "shape": [5, 30],
        "datatype": "FP64",
        "parameters": {"binary_data_size": len(data)},
    }
    body, headers = binary_request(
        {"inputs": [tensor], "outputs": [{"name": "predict", "parameters": {"binary_data": True}}]},
        data,
    )
    reply = request(app, "POST", INFER, body, headers=headers)
    assert reply.status == 200, reply.body
    head, blob = split_binary(reply)
    output = head["outputs"][0]
    assert "data" not in output and output["parameters"]["binary_data_size"] == len(blob)
    assert output["datatype"] == "INT64"
    assert list(struct.unpack(f"<{len(rows)}q", blob)) == plain
    # binary in, JSON out (no output asked as binary); FP32 in
    data32 = np.array(rows, dtype="<f4").tobytes()
    small = {**tensor, "datatype": "FP32", "parameters": {"binary_data_size": len(data32)}}
    body, headers = binary_request({"inputs": [small]}, data32)
    reply = request(app, "POST", INFER, body, headers=headers)
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    for broken, says in (
        (binary_request({"inputs": [tensor]}, data[:-8]), "not in the body"),
        (binary_request({"inputs": [tensor]}, data + b"x"), "no binary_data_size"),
        ((data, {"inference-header-content-length": "99999999"}), "Inference-Header"),
        ((data, {"inference-header-content-length": "abc"}), "Inference-Header"),
    ):
        reply = request(app, "POST", INFER, broken[0], headers=broken[1])
        assert reply.status == 400 and says in reply.json()["error"], reply.body


def row_tensor_n(rows: list[list[float]]) -> dict[str, Any]:
    flat = [v for row in rows for v in row]
    return {"inputs": [{"name": "x", "shape": [len(rows), 30], "datatype": "FP64", "data": flat}]}
