"""Request bodies of Open Inference Protocol V2 and the V1 `:predict` API, turned into rows
in the model's feature order. Every way a body can be wrong is a RequestError (4xx)."""

from __future__ import annotations

import json
from typing import Any

from mlopsctl.serving.model import ServedModel

V2_NUMERIC = {
    "FP64",
    "FP32",
    "FP16",
    "INT64",
    "INT32",
    "INT16",
    "INT8",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "BOOL",
}


class RequestError(Exception):
    """A request the service cannot answer: its HTTP status and what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        raise RequestError(400, "the request body is empty: send a JSON object")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestError(400, "the request body is nested too deeply") from exc
    if not isinstance(payload, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return payload


def _check_value(model: ServedModel, feature: str, value: Any, where: str) -> None:
    """Numbers (or null for a missing value) for numeric features; strings too for
    categorical ones; true/false too for boolean ones (elsewhere a boolean is no number)."""
    kind = type(value)
    if kind is float or kind is int or value is None:
        return
    if kind is str and feature in model.categorical:
        return
    if kind is bool and feature in model.boolean:
        return
    if feature in model.categorical:
        wanted = "a string, a number or null"
    elif feature in model.boolean:
        wanted = "true, false, 1, 0 or null"
    else:
        wanted = "a number or null"
    raise RequestError(422, f"{where}: feature {feature!r} must be {wanted}, got {_short(value)}")


def check_rows(model: ServedModel, rows: list[Any], where: str) -> list[list[Any]]:
    """Lists in feature order, checked for length and types."""
    if not rows:
        raise RequestError(422, f"{where} is empty: send at least one row")
    features = model.features
    width = len(features)
    categorical = model.categorical
    for index, row in enumerate(rows):
        if type(row) is not list:
            raise RequestError(422, f"{where}[{index}] must be a list of {width} values")
        if len(row) != width:
            raise RequestError(
                422,
                f"{where}[{index}] has {len(row)} values, the model takes {width} "
                f"({', '.join(features[:3])}{', ...' if width > 3 else ''})",
            )
        for feature, value in zip(features, row, strict=True):
            kind = type(value)
            if kind is float or kind is int or value is None:
                continue
            if kind is str and feature in categorical:
                continue
            _check_value(model, feature, value, f"{where}[{index}]")
    return rows


def rows_from_dicts(model: ServedModel, rows: list[Any], where: str) -> list[list[Any]]:
    wanted = model.features
    out = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(422, f"{where}[{index}] must be an object or a list")
        if len(row) != len(wanted) or any(name not in row for name in wanted):
            missing = [n for n in wanted if n not in row]
            unknown = sorted(set(row) - set(wanted))
            parts = []
            if missing:
                parts.append(
                    f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                )
            if unknown:
                parts.append(
                    f"unknown {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"
                )
            raise RequestError(422, f"{where}[{index}] has wrong features: {'; '.join(parts)}")
        out.append([row[name] for name in wanted])
    return out


def v1_rows(model: ServedModel, payload: dict[str, Any]) -> list[list[Any]]:
    """`{"instances": [[...], ...]}` in feature order, or `[{name: value}, ...]`."""
    instances = payload.get("instances")
    if not isinstance(instances, list):
        raise RequestError(422, 'the body needs "instances": a list of rows')
    if not instances:
        raise RequestError(422, '"instances" is empty: send at least one row')
    if isinstance(instances[0], dict):
        instances = rows_from_dicts(model, instances, "instances")
    return check_rows(model, instances, "instances")


def _short(value: Any) -> str:
    """A value as a message quotes it: JSON, cut short (and never a recursion)."""
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


def _flat(data: Any, where: str, depth: int = 0) -> list[Any]:
    """`data` flattened, row-major; tensors here have at most two dimensions, so nesting
    deeper than a few levels is refused rather than followed."""
    if not isinstance(data, list):
        raise RequestError(422, f"{where}: `data` must be a list")
    if data and isinstance(data[0], list):
        if depth >= 4:
            raise RequestError(422, f"{where}: `data` is nested deeper than its shape")
        flat: list[Any] = []
        for item in data:
            if not isinstance(item, list):
                raise RequestError(422, f"{where}: `data` mixes lists and values")
            flat.extend(
                _flat(item, where, depth + 1) if item and isinstance(item[0], list) else item
            )
        return flat
    return data


def _shape(tensor: dict[str, Any], where: str) -> list[int]:
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise RequestError(422, f"{where}: `shape` must be a list of non-negative integers")
    return shape


def v2_rows(model: ServedModel, payload: dict[str, Any]) -> list[list[Any]]:
    """V2 `inputs`: one tensor per feature (shape [N] or [N, 1]), or one row-major tensor
    of shape [N, n_features] in the model's feature order."""
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(422, 'the body needs "inputs": a list of tensors')
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise RequestError(422, f"inputs[{index}] must be an object with a `name`")
        datatype = tensor.get("datatype")
        if datatype is not None and (
            not isinstance(datatype, str) or (datatype not in V2_NUMERIC and datatype != "BYTES")
        ):
            raise RequestError(422, f"inputs[{index}]: unknown datatype {_short(datatype)}")
    width = model.n_features
    if len(inputs) == 1 and (width > 1 or inputs[0]["name"] not in model.features):
        tensor = inputs[0]
        where = f"input {tensor['name']!r}"
        shape = _shape(tensor, where)
        if len(shape) != 2 or shape[1] != width:
            raise RequestError(
                422,
                f"{where} has shape {shape}: one tensor must have shape [N, {width}] "
                f"(rows of the model's {width} features), or send one tensor per feature",
            )
        data = _flat(tensor.get("data"), where)
        rows_n = shape[0]
        if len(data) != rows_n * width:
            raise RequestError(
                422, f"{where} has {len(data)} values, its shape {shape} needs {rows_n * width}"
            )
        rows = [data[i * width : (i + 1) * width] for i in range(rows_n)]
        return check_rows(model, rows, where)

    by_name: dict[str, list[Any]] = {}
    for tensor in inputs:
        where = f"input {tensor['name']!r}"
        shape = _shape(tensor, where)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(422, f"{where}: a per-feature tensor has shape [N] or [N, 1]")
        data = _flat(tensor.get("data"), where)
        if len(data) != shape[0]:
            raise RequestError(
                422, f"{where} has {len(data)} values, its shape {shape} says {shape[0]}"
            )
        by_name[tensor["name"]] = data
    missing = [n for n in model.features if n not in by_name]
    unknown = sorted(set(by_name) - set(model.features))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
        raise RequestError(422, f"inputs do not match the model's features: {'; '.join(parts)}")
    lengths = {len(v) for v in by_name.values()}
    if len(lengths) != 1:
        raise RequestError(422, "input tensors have different lengths: one value per row each")
    columns = [by_name[n] for n in model.features]
    rows = [list(row) for row in zip(*columns, strict=True)]
    return check_rows(model, rows, "inputs")


def v2_requested_outputs(model: ServedModel, payload: dict[str, Any]) -> list[str]:
    outputs = payload.get("outputs")
    if outputs is None:
        return ["predict"]
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise RequestError(422, '"outputs" must be a list of objects with a `name`')
    names = [o["name"] for o in outputs]
    known = model.outputs
    for name in names:
        if name not in known:
            raise RequestError(
                422, f"unknown output {name!r}: this model answers {', '.join(known)}"
            )
    return names


# Triton's binary tensor extension (what tritonclient and the KServe client send by default):
# the body is a JSON header of `Inference-Header-Content-Length` bytes, then each input with
# `parameters.binary_data_size` as raw little-endian bytes, in the order of `inputs`.
BINARY_HEADER = b"inference-header-content-length"
BINARY_EXTENSION = "binary_tensor_data"
_BINARY_TYPES = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "u1",
    "BOOL": "?",
}


def parse_request(body: bytes, header_length: bytes | None) -> dict[str, Any]:
    """The JSON object of a request, with binary tensors (if any) decoded into `data`."""
    if header_length is None:
        return parse_json(body)
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise RequestError(
            400,
            f"Inference-Header-Content-Length is {header_length.decode(errors='replace')!r}, "
            f"the body has {len(body)} bytes",
        )
    payload = parse_json(body[:length])
    _decode_binary_inputs(payload, memoryview(body)[length:])
    return payload


def _decode_binary_inputs(payload: dict[str, Any], binary: memoryview) -> None:
    import numpy as np

    inputs = payload.get("inputs")
    offset = 0
    for index, tensor in enumerate(inputs if isinstance(inputs, list) else ()):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if size is None:
            continue
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise RequestError(
                400, f"inputs[{index}]: binary_data_size {_short(size)} is not in the body"
            )
        chunk = binary[offset : offset + size]
        offset += size
        datatype = tensor.get("datatype")
        if datatype == "BYTES":
            tensor["data"] = _decode_bytes(chunk, index)
        elif isinstance(datatype, str) and datatype in _BINARY_TYPES:
            dtype = np.dtype(_BINARY_TYPES[datatype])
            if size % dtype.itemsize:
                raise RequestError(
                    400, f"inputs[{index}]: {size} bytes is not a whole number of {datatype}"
                )
            tensor["data"] = np.frombuffer(chunk, dtype=dtype).tolist()
        else:
            raise RequestError(400, f"inputs[{index}]: unknown datatype {_short(datatype)}")
    if offset != len(binary):
        raise RequestError(
            400, f"the body has {len(binary) - offset} bytes no binary_data_size accounts for"
        )


def _decode_bytes(chunk: memoryview, index: int) -> list[str]:
    values, offset = [], 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise RequestError(400, f"inputs[{index}]: a BYTES element is cut short")
        length = int.from_bytes(chunk[offset : offset + 4], "little")
        offset += 4
        if offset + length > len(chunk):
            raise RequestError(400, f"inputs[{index}]: a BYTES element is cut short")
        try:
            values.append(bytes(chunk[offset : offset + length]).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise RequestError(400, f"inputs[{index}]: a BYTES element is not UTF-8") from exc
        offset += length
    return values


def wants_binary(payload: dict[str, Any], output: str) -> bool:
    """Whether the client asked for this output as binary (per output, else for all)."""
    default = False
    parameters = payload.get("parameters")
    if isinstance(parameters, dict) and parameters.get("binary_data_output") is True:
        default = True
    for requested in payload.get("outputs") or ():
        if isinstance(requested, dict) and requested.get("name") == output:
            flag = (requested.get("parameters") or {}).get("binary_data")
            if isinstance(flag, bool):
                return flag
    return default


def encode_binary(datatype: str, data: list[Any]) -> bytes:
    """One output tensor's data as the binary extension carries it."""
    if datatype == "BYTES":
        parts = []
        for value in data:
            raw = str(value).encode("utf-8")
            parts.append(len(raw).to_bytes(4, "little") + raw)
        return b"".join(parts)
    import numpy as np

    return np.asarray(data, dtype=np.dtype(_BINARY_TYPES[datatype])).tobytes()
