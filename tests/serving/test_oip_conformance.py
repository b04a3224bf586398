"""schemathesis over the Open Inference Protocol's own OpenAPI description (../shared/oip),
against the service on loopback, bounded in examples: no 5xx, every answer within the
schema (status, content type, body)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.serving.http import service

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (dev extra)")

SHARED = Path(os.environ.get("MLOPSCTL_SHARED") or REPO_ROOT / ".." / "shared")
SPEC = SHARED / "oip" / "open_inference_rest.yaml"


def load_spec() -> dict[str, Any]:
    import yaml

    if not SPEC.is_file():
        pytest.skip(f"{SPEC} is not here (MLOPSCTL_SHARED names the shared folder)")
    spec = yaml.safe_load(SPEC.read_text())
    # the file writes its path templates as `${MODEL_NAME}` (see its README): OpenAPI's
    # template is `{MODEL_NAME}`, the `$` would be a literal character of the path
    spec["paths"] = {re.sub(r"\$\{", "{", p): v for p, v in spec["paths"].items()}
    return spec


@pytest.fixture(scope="module")
def served(model_dir: Path) -> Iterator[str]:
    with service(model_dir) as base:
        yield base


def test_the_service_answers_within_the_protocols_schema(served: str, model_dir: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    version = json.loads((model_dir / "model.json").read_text())["version"]
    schema = schemathesis.openapi.from_dict(load_spec())
    strategy = schema.as_strategy(path_parameters={"MODEL_NAME": "demo", "MODEL_VERSION": version})
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    seen: set[str] = set()

    @given(case=strategy)
    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def conforms(case: Any) -> None:
        seen.add(f"{case.method} {case.formatted_path}")
        response = case.call(base_url=served, timeout=30)
        case.validate_response(response, checks=checks)

    conforms()
    assert len(seen) >= 5  # every operation of the description was tried
