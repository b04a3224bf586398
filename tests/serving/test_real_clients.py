"""The real Triton HTTP client (tritonclient[http], the dev extra) against the service on
loopback, with its defaults: binary tensors in and out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.serving.http import service

httpclient = pytest.importorskip("tritonclient.http", reason="pip install 'tritonclient[http]'")


@pytest.fixture(scope="module")
def served(model_dir: Path) -> Iterator[str]:
    with service(model_dir) as base:
        yield base.removeprefix("http://")


def test_tritonclient_with_its_defaults(
    served: str, model_dir: Path, test_rows: tuple[list[str], Any]
) -> None:
    import pickle

    version = json.loads((model_dir / "model.json").read_text())["version"]
    _, rows = test_rows
    array = np.array(rows[:16], dtype=np.float64)
    with open(model_dir / "model.pkl", "rb") as fh:
        expected = pickle.load(fh).predict(array).tolist()
        fh.seek(0)
        expected_proba = pickle.load(fh).predict_proba(array)

    client = httpclient.InferenceServerClient(url=served)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("demo") and client.is_model_ready("demo", version)
        assert not client.is_model_ready("demo", "v999")
        assert client.get_model_metadata("demo")["name"] == "demo"
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]

        tensor = httpclient.InferInput("input", list(array.shape), "FP64")
        tensor.set_data_from_numpy(array)  # binary_data=True: the client's default
        result = client.infer("demo", [tensor])  # no outputs named: all, as binary
        assert result.as_numpy("predict").tolist() == expected

        outputs = [
            httpclient.InferRequestedOutput("predict"),
            httpclient.InferRequestedOutput("predict_proba", binary_data=False),
        ]
        result = client.infer("demo", [tensor], outputs=outputs, model_version=version)
        assert result.as_numpy("predict").tolist() == expected
        assert np.array_equal(result.as_numpy("predict_proba"), expected_proba)

        as_json = httpclient.InferInput("input", list(array.shape), "FP64")
        as_json.set_data_from_numpy(array, binary_data=False)
        result = client.infer("demo", [as_json])
        assert result.as_numpy("predict").tolist() == expected
    finally:
        client.close()
