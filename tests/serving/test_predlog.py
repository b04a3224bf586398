"""A prediction log that cannot be written (a full disk) never fails a prediction: the rows
are dropped whole, counted in /metrics, and logging resumes when there is room again."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.serving.server import create_app
from tests.serving.asgi import request

PREDICT = "/v1/models/demo:predict"


def dropped(app: Any) -> int:
    text = request(app, "GET", "/metrics").body.decode()
    line = next(ln for ln in text.splitlines() if ln.startswith("mlopsctl_prediction_log_dropped"))
    return int(line.rsplit(" ", 1)[1])


def predict(app: Any, value: float) -> int:
    return request(app, "POST", PREDICT, {"instances": [[value] * 30] * 4}).status


def test_a_log_on_dev_full_drops_and_counts_rows_and_every_prediction_is_answered(
    model_dir: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    # the file this process logs to is the always-full device: every write gets ENOSPC
    (logs / f"predictions-{os.getpid()}.jsonl").symlink_to("/dev/full")
    app = create_app({"MODEL_DIR": str(model_dir), "PREDICTION_LOG": str(logs)})
    assert all(predict(app, float(v)) == 200 for v in range(10))
    assert dropped(app) == 40
    assert request(app, "GET", "/v2/health/ready").status == 200


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB filesystem (tmpfs; needs root, as CI runs)."""
    where = tmp_path / "tiny"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        # lazily: the service under test may still hold its log file open
        subprocess.run(["umount", "--lazy", str(where)], check=True)


def test_a_full_disk_under_the_log_fails_no_prediction_and_logging_resumes(
    model_dir: Path, tiny_disk: Path
) -> None:
    filler = tiny_disk / "other-files"
    filler.write_bytes(b"x" * 32 * 1024)  # half the disk is someone else's
    logs = tiny_disk / "logs"
    app = create_app({"MODEL_DIR": str(model_dir), "PREDICTION_LOG": str(logs)})
    statuses = [predict(app, float(v)) for v in range(100)]  # ~4 KiB a request: fills it
    assert set(statuses) == {200}
    lost = dropped(app)
    assert 0 < lost < 400
    log = next(logs.glob("predictions-*.jsonl"))
    records = [json.loads(line) for line in log.read_text().splitlines()]  # no torn line
    assert len(records) + lost == 400

    filler.unlink()  # room again
    assert predict(app, 1.0) == 200
    assert dropped(app) == lost
    assert len(log.read_text().splitlines()) == len(records) + 4
