"""Property tests of the request parser (mlopsctl.serving.protocol): whatever a client
sends, the parser answers rows of the model's width or a RequestError with a 4xx status,
and the protocol's equivalent spellings of one batch give the same rows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlopsctl.serving.model import ServedModel
from mlopsctl.serving.protocol import RequestError, parse_request, v1_rows, v2_rows

FEATURES = ["f0", "f1", "f2", "f3"]
MODEL = ServedModel("m", "v1", "0" * 64, FEATURES, [0, 1], estimator=None)
SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)
tensor = st.fixed_dictionaries(
    {"name": st.sampled_from([*FEATURES, "x", ""]) | st.text(max_size=4) | json_values},
    optional={
        "shape": st.lists(st.integers(-2, 6), max_size=3) | json_values,
        "datatype": st.sampled_from(["FP64", "INT64", "BYTES", "BOOL", "FP99"]) | json_values,
        "data": st.lists(st.floats(allow_nan=False) | st.integers() | st.none(), max_size=30)
        | json_values,
        "parameters": json_values,
    },
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "inputs": st.lists(tensor, max_size=5) | json_values,
        "instances": st.lists(st.lists(st.floats() | st.integers() | st.none(), max_size=5))
        | json_values,
        "outputs": json_values,
        "id": json_values,
    },
)


def parsed_or_refused(call: Any) -> list[list[Any]] | None:
    try:
        rows = call()
    except RequestError as exc:
        assert 400 <= exc.status < 500 and exc.message
        return None
    assert all(len(row) == len(FEATURES) for row in rows)
    return rows


@SETTINGS
@given(value=json_values)
def test_any_json_body_is_an_object_or_a_4xx(value: Any) -> None:
    try:
        payload = parse_request(json.dumps(value).encode(), None)
    except RequestError as exc:
        assert 400 <= exc.status < 500 and not isinstance(value, dict)
        return
    assert payload == value


@SETTINGS
@given(body=st.binary(max_size=200), header=st.none() | st.binary(max_size=6))
def test_any_bytes_with_any_binary_header_are_parsed_or_a_4xx(
    body: bytes, header: bytes | None
) -> None:
    try:
        payload = parse_request(body, header)
    except RequestError as exc:
        assert 400 <= exc.status < 500
        return
    assert isinstance(payload, dict)


@SETTINGS
@given(payload=payloads)
def test_any_payload_gives_rows_of_the_models_width_or_a_4xx(payload: dict[str, Any]) -> None:
    parsed_or_refused(lambda: v2_rows(MODEL, payload))
    parsed_or_refused(lambda: v1_rows(MODEL, payload))


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
batches = st.lists(st.lists(finite, min_size=4, max_size=4), min_size=1, max_size=20)


@SETTINGS
@given(rows=batches)
def test_every_spelling_of_a_batch_gives_the_same_rows(rows: list[list[float]]) -> None:
    n = len(rows)
    flat = [v for row in rows for v in row]
    row_major = {"inputs": [{"name": "x", "shape": [n, 4], "datatype": "FP64", "data": flat}]}
    nested = {"inputs": [{"name": "x", "shape": [n, 4], "datatype": "FP64", "data": rows}]}
    per_feature = {
        "inputs": [
            {"name": f, "shape": [n], "datatype": "FP64", "data": [row[i] for row in rows]}
            for i, f in reversed(list(enumerate(FEATURES)))  # any order of tensors
        ]
    }
    assert v2_rows(MODEL, row_major) == rows
    assert v2_rows(MODEL, nested) == rows
    assert v2_rows(MODEL, per_feature) == rows
    assert v1_rows(MODEL, {"instances": rows}) == rows
    objects = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    assert v1_rows(MODEL, {"instances": objects}) == rows
    blob = np.array(rows, dtype="<f8").tobytes()
    binary = {
        "inputs": [
            {
                "name": "x",
                "shape": [n, 4],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(blob)},
            }
        ]
    }
    head = json.dumps(binary).encode()
    payload = parse_request(head + blob, str(len(head)).encode())
    assert v2_rows(MODEL, payload) == rows


@pytest.mark.parametrize("depth", [10, 1_000, 100_000])
def test_deep_nesting_is_a_4xx(depth: int) -> None:
    body = b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"
    assert parsed_or_refused(lambda: v2_rows(MODEL, parse_request(body, None))) is None
