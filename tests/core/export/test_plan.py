"""Which pipeline image an export pins: the one `build --kind pipeline` recorded, named by
where it was last pushed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlopsctl.core.export.plan import PIPELINE_LOCK, pipeline_image
from mlopsctl.errors import BadInput

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def write_lock(root: Path, pushed: list[dict[str, str]]) -> None:
    lock = root / PIPELINE_LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    image = {"digest": DIGEST, "tag": "localhost/demo-pipeline:0.1.0"}
    lock.write_text(json.dumps({"kind": "pipeline", "image": image, "pushed": pushed}))


def test_a_local_build_is_named_by_its_tag(tmp_path: Path) -> None:
    write_lock(tmp_path, [])
    assert pipeline_image(tmp_path, None) == f"localhost/demo-pipeline@{DIGEST}"


def test_a_pushed_build_is_named_by_where_it_last_went(tmp_path: Path) -> None:
    write_lock(
        tmp_path,
        [
            {"ref": "a.example/t/p:1", "repository": "a.example/t/p", "digest": DIGEST},
            {"ref": "q.example/t/p:1", "repository": "q.example/t/p", "digest": DIGEST},
            {"ref": "old.example/p:0", "repository": "old.example/p", "digest": OTHER},
        ],
    )
    assert pipeline_image(tmp_path, None) == f"q.example/t/p@{DIGEST}"


def test_no_build_and_an_unpinned_image_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no pipeline image built yet"):
        pipeline_image(tmp_path, None)
    with pytest.raises(BadInput, match="not pinned by digest"):
        pipeline_image(tmp_path, "quay.io/t/p:1")
    assert pipeline_image(tmp_path, f"quay.io/t/p@{DIGEST}") == f"quay.io/t/p@{DIGEST}"
