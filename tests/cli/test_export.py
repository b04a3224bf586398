"""`mlopsctl export ...` as a user runs it: exit codes, the problems listed, --json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.cli.test_init import assert_one_line_error
from tests.conftest import mlopsctl
from tests.core.export.test_check import SCHEMAS, TASK, good_bundle, write


def test_export_check_passes_a_good_bundle(tmp_path: Path) -> None:
    good_bundle(tmp_path / "deploy" / "tekton")
    proc = mlopsctl("export", "check", "--schema-location", str(SCHEMAS), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OK 4 documents in 3 files" in proc.stdout


def test_export_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bundle = good_bundle(tmp_path / "b")
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "bad"
    task["spec"]["steps"][0]["image"] = "python:latest"
    task["spec"]["steps"][0]["scirpt"] = "x"
    write(bundle, "bad.yaml", task)
    proc = mlopsctl("export", "check", str(bundle), "--schema-location", str(SCHEMAS), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert (
        f"{bundle / 'bad.yaml'} #0 Task/bad: spec.steps[0].image: python:latest: uses :latest"
        in proc.stderr
    )
    assert f"{bundle / 'bad.yaml'} #0 Task/bad: spec.steps[0]: " in proc.stderr
    assert "error: export check: 2 problems in 5 documents" in proc.stderr

    as_json = mlopsctl(
        "export", "check", str(bundle), "--json", cwd=tmp_path, env=None
    )  # no schema location: the CRDs are unknown kinds
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["documents"] == 5
    assert {p["field"] for p in report["problems"]} >= {"kind", "spec.steps[0].image"}


def test_export_check_bad_paths_are_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(mlopsctl("export", "check", cwd=tmp_path), 2)  # no deploy/
    assert_one_line_error(mlopsctl("export", "check", str(tmp_path / "x.yaml"), cwd=tmp_path), 2)
