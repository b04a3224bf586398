"""The service as a raw ASGI app: Open Inference Protocol V2 REST, the V1 `:predict` API,
health, and Prometheus metrics. No framework: per request it parses JSON, checks it, builds
one numpy array and calls the fitted estimator."""

from __future__ import annotations

import json
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mlopsctl.serving.metrics import CONTENT_TYPE, ServiceMetrics
from mlopsctl.serving.model import FP64, ServedModel, labels_datatype
from mlopsctl.serving.predlog import PredictionLog
from mlopsctl.serving.protocol import (
    BINARY_EXTENSION,
    BINARY_HEADER,
    RequestError,
    encode_binary,
    parse_request,
    v1_rows,
    v2_requested_outputs,
    v2_rows,
    wants_binary,
)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 4 * 1024 * 1024
JSON_TYPE = b"application/json"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: bytes = JSON_TYPE
    headers: tuple[tuple[bytes, bytes], ...] = ()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode())


def error_response(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


class PredictionService:
    """ASGI application serving one model."""

    def __init__(
        self,
        model: ServedModel,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        prediction_log: PredictionLog | None = None,
        server_version: str = "",
    ) -> None:
        self.model = model
        self.max_body = max_body
        self.log = prediction_log
        self.server_version = server_version
        self.metrics = ServiceMetrics(model.name, model.version, model.sha256)
        name = model.name
        self.get_routes: dict[str, tuple[str, Callable[[], Response]]] = {
            "/health": ("/health", self._live),
            "/v2/health/live": ("/v2/health/live", self._live),
            "/v2/health/ready": ("/v2/health/ready", self._ready),
            "/v2": ("/v2", self._server_metadata),
            f"/v2/models/{name}": ("/v2/models/{name}", self._model_metadata),
            f"/v2/models/{name}/ready": ("/v2/models/{name}/ready", self._model_ready),
            f"/v2/models/{name}/versions/{model.version}/ready": (
                "/v2/models/{name}/versions/{version}/ready",
                self._model_ready,
            ),
            f"/v2/models/{name}/versions/{model.version}": (
                "/v2/models/{name}/versions/{version}",
                self._model_metadata,
            ),
            f"/v1/models/{name}": ("/v1/models/{name}", self._v1_status),
        }
        self.post_routes: dict[str, tuple[str, Callable[[dict[str, Any]], Response]]] = {
            f"/v2/models/{name}/infer": ("/v2/models/{name}/infer", self._v2_infer),
            f"/v2/models/{name}/versions/{model.version}/infer": (
                "/v2/models/{name}/versions/{version}/infer",
                self._v2_infer,
            ),
            f"/v1/models/{name}:predict": ("/v1/models/{name}:predict", self._v1_predict),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.log is not None:
                        self.log.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        if len(path) > 1 and path[-1] == "/":  # `/v2/` is `/v2`, as the protocol writes it
            path = path.rstrip("/") or "/"
        route = "other"
        if method == "POST" and path in self.post_routes:
            route, handler = self.post_routes[path]
            body = await self._read_body(scope, receive)
            response = (
                body
                if isinstance(body, Response)
                else self._answer_post(handler, body, _header(scope, BINARY_HEADER))
            )
            if response.status == 422 and route.startswith("/v2/"):
                response.status = 400  # the V2 protocol answers a request it cannot take so
        elif method in ("GET", "HEAD") and path in self.get_routes:
            route, get_handler = self.get_routes[path]
            response = get_handler()
        elif path == "/metrics" and method == "GET":
            route = "/metrics"
            response = Response(200, self.metrics.render(), CONTENT_TYPE)
        elif path in self.post_routes or path in self.get_routes or path == "/metrics":
            allow = b"POST" if path in self.post_routes else b"GET, HEAD"
            response = error_response(405, f"{method} is not allowed on {path}")
            response.headers = ((b"allow", allow),)
        elif method == "POST" and path.startswith("/v2/models/") and path.endswith("/infer"):
            # another model or version: the protocol's infer answers 400 with an error object
            response = error_response(400, self._not_found(path))
        else:
            response = error_response(404, self._not_found(path))
        status = response.status
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", response.content_type),
                    (b"content-length", str(len(response.body)).encode()),
                    *response.headers,
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if method == "HEAD" else response.body}
        )
        if 400 <= status < 500:
            self.metrics.error("bad_request")
        self.metrics.observe(route, method, status, time.perf_counter() - start)

    def _not_found(self, path: str) -> str:
        if path.startswith(("/v2/models/", "/v1/models/")):
            return f"no such model or endpoint: {path} (this server serves {self.model.name!r})"
        return f"no such endpoint: {path}"

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | Response:
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return error_response(400, "the Content-Length header is not a number")
                if declared > self.max_body:
                    return self._too_large()
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return error_response(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return self._too_large()
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self) -> Response:
        return error_response(
            413, f"the request body is larger than {self.max_body} bytes: send smaller batches"
        )

    def _answer_post(
        self,
        handler: Callable[[dict[str, Any]], Response],
        body: bytes,
        binary_header: bytes | None = None,
    ) -> Response:
        try:
            return handler(parse_request(body, binary_header))
        except RequestError as exc:
            return error_response(exc.status, exc.message)
        except RecursionError:  # the client's doing: nothing a model does recurses so deep
            return error_response(400, "the request is nested too deeply")
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            self.metrics.error("model")
            print(f"mlopsctl-serving: error {error_id}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            return json_response(
                500,
                {
                    "error": "the model failed on this request (see the server log)",
                    "error_id": error_id,
                },
            )

    def _predict(
        self, rows: list[list[Any]], extra: tuple[str, ...] = ()
    ) -> tuple[list[Any], dict[str, tuple[list[float], list[int]]]]:
        """predict on the rows, and the `extra` outputs (predict_proba, decision_function)
        asked for: (predictions, {output: (values row-major, shape)})."""
        model = self.model
        try:
            array = model.to_array(rows)
        except ValueError as exc:
            raise RequestError(422, str(exc)) from exc
        except OverflowError as exc:  # an integer beyond float64
            raise RequestError(
                422, "a number is too large for float64: send finite numbers"
            ) from exc
        try:
            predictions = model.predict(array)
            scores = {name: model.scores(name, array) for name in extra}
        except ValueError as exc:
            if "NaN" not in str(exc):
                raise
            # scikit-learn's check of a model with no imputer: the client sent a null
            raise RequestError(
                422, "this model takes no missing values: send a number for every feature"
            ) from exc
        self.metrics.rows += len(rows)
        if self.log is not None and not self.log.write(model.features, rows, predictions):
            self.metrics.log_dropped += len(rows)  # the prediction stands: only its log is lost
        return predictions, scores

    def _v2_infer(self, payload: dict[str, Any]) -> Response:
        model = self.model
        outputs = v2_requested_outputs(model, payload)
        rows = v2_rows(model, payload)
        predictions, scores = self._predict(rows, tuple(o for o in outputs if o != "predict"))
        result: list[dict[str, Any]] = []
        for name in outputs:
            if name == "predict":
                datatype = model.predict_datatype
                if not model.is_regressor and not model.classes:
                    datatype = labels_datatype(predictions)  # an estimator that has no classes_
                result.append(
                    {
                        "name": "predict",
                        "shape": [len(predictions)],
                        "datatype": datatype,
                        "data": predictions,
                    }
                )
            else:
                values, shape = scores[name]
                result.append({"name": name, "shape": shape, "datatype": FP64, "data": values})
        answer: dict[str, Any] = {
            "model_name": model.name,
            "model_version": model.version,
            "outputs": result,
        }
        if isinstance(payload.get("id"), str):
            answer["id"] = payload["id"]
        blobs = []
        for output in result:
            if wants_binary(payload, output["name"]):
                blob = encode_binary(output["datatype"], output.pop("data"))
                output["parameters"] = {"binary_data_size": len(blob)}
                blobs.append(blob)
        if not blobs:
            return json_response(200, answer)
        header = json.dumps(answer, separators=(",", ":")).encode()
        return Response(
            200,
            b"".join([header, *blobs]),
            b"application/octet-stream",
            ((BINARY_HEADER, str(len(header)).encode()),),
        )

    def _v1_predict(self, payload: dict[str, Any]) -> Response:
        predictions, _ = self._predict(v1_rows(self.model, payload))
        return json_response(200, {"predictions": predictions})

    def _live(self) -> Response:
        return json_response(200, {"live": True})

    def _ready(self) -> Response:
        return json_response(200, {"ready": True})

    def _model_ready(self) -> Response:
        return json_response(200, {"name": self.model.name, "ready": True})

    def _server_metadata(self) -> Response:
        return json_response(
            200,
            {
                "name": "mlopsctl",
                "version": self.server_version,
                "extensions": [BINARY_EXTENSION],
            },
        )

    def _model_metadata(self) -> Response:
        model = self.model
        inputs = [
            {"name": f, "datatype": _input_datatype(model, f), "shape": [-1]}
            for f in model.features
        ]
        outputs = [{"name": "predict", "datatype": model.predict_datatype, "shape": [-1]}]
        for name in model.outputs[1:]:
            binary_decision = name == "decision_function" and len(model.classes) == 2
            shape = [-1] if binary_decision else [-1, len(model.classes)]
            outputs.append({"name": name, "datatype": FP64, "shape": shape})
        return json_response(
            200,
            {
                "name": model.name,
                "versions": [model.version],
                "platform": "scikit-learn",
                "inputs": inputs,
                "outputs": outputs,
                "parameters": {
                    "sha256": model.sha256,
                    "task": model.task,
                    # a parameter is a string, number or boolean, never a list: JSON text
                    "classes": json.dumps(model.classes),
                    "estimator": model.metadata.get("estimator"),
                    "sklearn_version": model.metadata.get("sklearn_version"),
                },
            },
        )

    def _v1_status(self) -> Response:
        return json_response(
            200,
            {"model_version_status": [{"version": self.model.version, "state": "AVAILABLE"}]},
        )


def _input_datatype(model: ServedModel, feature: str) -> str:
    if feature in model.categorical:
        return "BYTES"
    return "BOOL" if feature in model.boolean else FP64
