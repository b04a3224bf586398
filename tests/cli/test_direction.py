"""A metric has a direction: on a regression project (rmse, minimize) every command that
ranks, colours or gates calls the lower rmse the better one.

The project (tests/regression.py) fits a real Ridge; its rmse grows with `model.alpha`
and with the noise in the data."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, mlopsctl
from tests.regression import RAW, commit_model, write_data

WIDE = dict(os.environ, COLUMNS="200")
# rich colours output that is not a terminal when asked to, as a user's terminal shows it
COLOUR = dict(WIDE, FORCE_COLOR="1", TERM="xterm-256color")
# red and green text, bold or not (rich adds the row's style: `1;32m`)
RED, GREEN = re.compile(r"\x1b\[(?:\d+;)*31m"), re.compile(r"\x1b\[(?:\d+;)*32m")


def as_json(project: Path, *args: str) -> Any:
    proc = mlopsctl(*args, "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def metric_lines(output: str) -> dict[str, str]:
    """The table's row of each metric (found with the colour codes taken out)."""
    lines = {}
    for line in output.splitlines():
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        if "│" not in plain:
            continue
        for name in ("rmse", "mae", "r2"):
            if re.search(rf"\b{name}\b", plain):
                lines[name] = line
    return lines


def rmse_at(project: Path) -> float:
    return float(json.loads((project / "metrics.json").read_text())["rmse"])


@pytest.mark.slow
def test_sweep_exp_list_compare_and_gc_call_the_lowest_rmse_best(
    regression_project: Path,
) -> None:
    p = regression_project
    result = as_json(
        p, "train", "--queue", "--jobs", "2", "--name", "alpha", "model.alpha=300,0.01,30"
    )
    assert result["failed"] == [] and result["direction"] == "minimize"
    ranked = [(e["name"], e["metrics"]["rmse"]) for e in result["experiments"]]
    # alpha 0.01 (alpha-2) fits best, 300 (alpha-1) worst: lowest rmse first
    assert [name for name, _ in ranked] == ["alpha-2", "alpha-3", "alpha-1"], ranked
    assert ranked[0][1] < ranked[1][1] < ranked[2][1]
    proc = mlopsctl("train", "--queue", "--name", "again", "model.alpha=500,100", cwd=p, env=WIDE)
    assert proc.returncode == 0, proc.stderr
    assert "best rmse first (lowest" in proc.stdout
    assert "apply the best: mlopsctl exp apply again-2" in proc.stdout

    listed = as_json(p, "exp", "list")
    (best,) = [e["name"] for e in listed if e["best"]]
    lowest = min(
        (e for e in listed if e["kind"] != "workspace"), key=lambda e: e["metrics"]["rmse"]
    )
    assert best == lowest["name"] == "alpha-2"
    shown = mlopsctl("exp", "list", cwd=p, env=WIDE).stdout
    assert re.search(r"alpha-2 \(best\)", shown) and "best: lowest rmse" in shown

    compared = as_json(p, "exp", "compare", "alpha-1", "alpha-2")
    rows = {r["key"]: r for r in compared["rows"] if r["section"] == "metric"}
    assert rows["rmse"]["direction"] == "minimize" and rows["rmse"]["b_better"] is True
    assert rows["r2"]["direction"] == "maximize" and rows["r2"]["b_better"] is True
    proc = mlopsctl("exp", "compare", "alpha-1", "alpha-2", cwd=p, env=COLOUR)
    line = metric_lines(proc.stdout)["rmse"]
    assert GREEN.search(line) and not RED.search(line)  # rmse went down: better
    assert "better rmse (lower is better): alpha-2" in proc.stdout

    # gc keeps the best, by the metric's direction, and never drops it
    plan = as_json(p, "exp", "gc", "--keep", "1")
    assert plan["keep"] == ["alpha-2"] and plan["direction"] == "minimize"
    assert set(plan["remove"]) == {"alpha-1", "alpha-3", "again-1", "again-2"}
    assert as_json(p, "exp", "gc", "--keep", "0")["keep"] == ["alpha-2"]
    proc = mlopsctl("exp", "gc", "--keep", "2", "--yes", cwd=p)
    assert proc.returncode == 0, proc.stderr
    left = {e["name"] for e in as_json(p, "exp", "list") if e["kind"] == "experiment"}
    assert left == {"alpha-2", "alpha-3"}


@pytest.mark.slow
def test_train_colours_and_report_say_a_higher_rmse_is_worse(regression_project: Path) -> None:
    p = regression_project
    before = rmse_at(p)
    proc = mlopsctl("train", "model.alpha=300", cwd=p, env=COLOUR)
    assert proc.returncode == 0, proc.stderr
    assert rmse_at(p) > before
    lines = metric_lines(proc.stdout)
    assert RED.search(lines["rmse"]) and not GREEN.search(lines["rmse"])  # up: worse
    assert RED.search(lines["r2"]) and not GREEN.search(lines["r2"])  # r2 down: worse too
    assert "lower is better" in lines["rmse"] and "lower is better" not in lines["r2"]
    payload = as_json(p, "train", "model.alpha=300")  # up to date: the same experiment
    assert payload["direction"] == "minimize" and payload["primary_metric"] == "rmse"

    report = as_json(p, "report")
    rmse = report["metrics"]["rmse"]
    assert rmse["direction"] == "minimize" and rmse["change"] > 0 and rmse["better"] is False
    assert report["metrics"]["r2"]["better"] is False
    markdown = Path(report["markdown"]).read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| rmse (primary)"))
    assert row.endswith(" worse |"), row
    # and back to a lower rmse than HEAD: better, in green
    proc = mlopsctl("train", "model.alpha=0.01", cwd=p, env=COLOUR)
    assert proc.returncode == 0, proc.stderr
    assert rmse_at(p) < before
    line = metric_lines(proc.stdout)["rmse"]
    assert GREEN.search(line) and not RED.search(line)
    assert as_json(p, "report")["metrics"]["rmse"]["better"] is True


def gates_of(proc: Any) -> dict[str, dict[str, Any]]:
    payload = json.loads(proc.stdout)
    return {g["gate"]: g for g in payload["gates"]}


@pytest.mark.slow
def test_promotion_gates_default_to_lower_rmse_beats_the_champion(
    regression_project: Path,
) -> None:
    p = regression_project
    first = mlopsctl("promote", "--to", "staging", "--json", cwd=p)
    assert first.returncode == 0, first.stderr
    gates = gates_of(first)
    # no f1 threshold from a classification default; rmse has no scale of its own
    assert "f1" not in gates and "rmse" not in gates
    assert gates["rmse vs staging"]["passed"] and "<= champion" in gates["rmse vs staging"][
        "expected"
    ]  # fmt: skip
    champion = rmse_at(p)

    commit_model(p, 300.0, "a worse model: alpha=300")
    assert rmse_at(p) > champion
    worse = mlopsctl("promote", "--to", "staging", "--json", cwd=p)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "rmse vs staging" in worse.stderr
    assert git("tag", "--list", "demo@v0.0.2", cwd=p).stdout == ""
    shown = mlopsctl("promote", "--to", "staging", "--dry-run", cwd=p, env=WIDE)
    assert shown.returncode == 1 and f"<= {champion + 0.005:.6g}" in shown.stdout

    commit_model(p, 0.01, "a better model: alpha=0.01")
    assert rmse_at(p) < champion
    better = mlopsctl("promote", "--to", "staging", "--json", cwd=p)
    assert better.returncode == 0, better.stdout + better.stderr
    assert gates_of(better)["rmse vs staging"]["passed"]
    assert git("tag", "--list", "demo@v0.0.2", cwd=p).stdout.strip() == "demo@v0.0.2"


@pytest.mark.slow
def test_retrain_promotes_cleaner_data_and_refuses_noisier(
    regression_project: Path, tmp_path: Path
) -> None:
    p = regression_project
    assert mlopsctl("promote", "--to", "staging", cwd=p).returncode == 0
    head = git("rev-parse", "HEAD", cwd=p).stdout
    raw = (p / RAW).read_bytes()

    noisy = write_data(tmp_path / "noisy.csv", sigma=3.0, seed=1)
    proc = mlopsctl("retrain", "--data", str(noisy), "--to", "staging", cwd=p)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rmse vs staging" in proc.stdout + proc.stderr
    assert git("rev-parse", "HEAD", cwd=p).stdout == head and (p / RAW).read_bytes() == raw

    clean = write_data(tmp_path / "clean.csv", sigma=0.2, seed=2)
    proc = mlopsctl("retrain", "--data", str(clean), "--to", "staging", "--json", cwd=p)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "promoted" and result["metrics"]["rmse"] < 0.5
    assert git("tag", "--list", "demo@v0.0.2", cwd=p).stdout.strip() == "demo@v0.0.2"
