"""Experiments as DVC records them: list, compare, apply, and drop the ones not worth keeping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlopsctl.core import config, dvcrepo
from mlopsctl.core.config import flatten
from mlopsctl.core.pipeline.metrics import best_first, is_number
from mlopsctl.core.project import Project
from mlopsctl.errors import BadInput, EnvironmentProblem

PARAMS_FILE = "params.yaml"


@dataclass
class Experiment:
    name: str
    rev: str
    kind: str  # workspace | baseline | experiment
    state: str  # success | queued | running | failed
    baseline: str
    created: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rev": self.rev,
            "kind": self.kind,
            "state": self.state,
            "baseline": self.baseline,
            "created": self.created,
            "params": self.params,
            "metrics": self.metrics,
        }


@dataclass
class Comparison:
    a: Experiment
    b: Experiment
    rows: list[tuple[str, str, Any, Any, bool]]  # (section, key, a, b, changed)

    @property
    def changed(self) -> list[tuple[str, str, Any, Any, bool]]:
        return [row for row in self.rows if row[4]]


def list_experiments(project: Project, all_commits: bool = False) -> list[Experiment]:
    """The workspace, its baseline commit(s) and their experiments (`dvc exp show --json`)."""
    args = ["exp", "show", "--json"] + (["--all-commits"] if all_commits else [])
    proc = dvcrepo.run_dvc(args, project.root)
    if not proc.ok:
        raise EnvironmentProblem(
            f"dvc exp show failed: {proc.tail()}",
            "run `dvc exp show` to see DVC's whole message",
        )
    try:
        records = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise EnvironmentProblem("dvc exp show printed no JSON", "upgrade dvc (>= 3)") from exc
    found: list[Experiment] = []
    for record in records:
        rev = record.get("rev", "")
        if rev == "workspace":
            found.append(
                _from_data(
                    "workspace", "workspace", "workspace", "success", "HEAD", record.get("data")
                )
            )
            continue
        baseline = record.get("name") or rev[:7]
        found.append(_from_data(baseline, rev, "baseline", "success", baseline, record.get("data")))
        for exp in record.get("experiments") or []:
            executor = exp.get("executor") or {}
            state = str(executor.get("state") or "success")
            for exp_rev in (exp.get("revs") or [])[:1]:  # the experiment's last checkpoint
                name = exp.get("name") or exp_rev.get("name") or exp_rev.get("rev", "")[:7]
                found.append(
                    _from_data(
                        name,
                        exp_rev.get("rev", ""),
                        "experiment",
                        state,
                        baseline,
                        exp_rev.get("data"),
                    )
                )
    return found


def _from_data(
    name: str, rev: str, kind: str, state: str, baseline: str, data: dict[str, Any] | None
) -> Experiment:
    data = data or {}
    return Experiment(
        name=name,
        rev=rev,
        kind=kind,
        state=state,
        baseline=baseline,
        created=data.get("timestamp"),
        params=_merge_files(data.get("params") or {}, PARAMS_FILE),
        metrics=_merge_files(data.get("metrics") or {}, None),
    )


def _merge_files(by_file: dict[str, Any], default_file: str | None) -> dict[str, Any]:
    """{'params.yaml': {'data': {...}}} -> flat keys; files other than the default (and all
    files, when there is more than one metrics file) get a 'file:' prefix, as DVC shows."""
    merged: dict[str, Any] = {}
    files = [f for f, v in by_file.items() if isinstance(v, dict) and "data" in v]
    for filename in files:
        values = flatten(by_file[filename].get("data") or {})
        unprefixed = filename == default_file or (default_file is None and len(files) == 1)
        merged.update({(k if unprefixed else f"{filename}:{k}"): v for k, v in values.items()})
    return merged


def find_experiment(project: Project, ref: str, experiments: list[Experiment]) -> Experiment:
    """By experiment name, 'workspace', baseline name, or (short) rev; else any git revision."""
    for exp in experiments:
        if ref in (exp.name, exp.rev) or (len(ref) >= 4 and exp.rev.startswith(ref)):
            return exp
    return _from_git_rev(project, ref)


def _from_git_rev(project: Project, rev: str) -> Experiment:
    import dvc.api

    from mlopsctl.core.pipeline.metrics import read_metrics

    with dvcrepo.quiet_dvc():
        try:
            params = dvc.api.params_show(repo=str(project.root), rev=rev)
        except Exception as exc:
            raise BadInput(
                f"no experiment or git revision named {rev!r}",
                "see `mlopsctl exp list` for experiment names",
            ) from exc
    return Experiment(
        name=rev,
        rev=rev,
        kind="revision",
        state="success",
        baseline=rev,
        params=flatten(params),
        metrics=read_metrics(project.root, rev),
    )


def compare(project: Project, a: str, b: str) -> Comparison:
    experiments = list_experiments(project, all_commits=False)
    left, right = find_experiment(project, a, experiments), find_experiment(project, b, experiments)
    rows: list[tuple[str, str, Any, Any, bool]] = []
    for section, x, y in (
        ("metric", left.metrics, right.metrics),
        ("param", left.params, right.params),
    ):
        for key in sorted(set(x) | set(y)):
            rows.append((section, key, x.get(key), y.get(key), x.get(key) != y.get(key)))
    return Comparison(left, right, rows)


@dataclass
class Applied:
    conf_changes: list[str] | None  # None: conf/ could not be made to compose to its params
    overrides: list[str] = field(default_factory=list)  # what differs, as Hydra overrides


def apply(project: Project, name: str) -> Applied:
    """Bring an experiment's params and results into the workspace (`dvc exp apply`), and
    its params into conf/, so that the next compose (`train`, the config-composes hook)
    keeps them instead of recomposing the old config over them."""
    import yaml

    from mlopsctl.core.pipeline.metrics import flatten

    proc = dvcrepo.run_dvc(["exp", "apply", name], project.root)
    if not proc.ok:
        raise BadInput(
            f"cannot apply {name!r}: {proc.tail()}",
            "see `mlopsctl exp list` for experiment names; commit or stash local changes first",
        )
    applied = yaml.safe_load(project.params_path.read_text(encoding="utf-8")) or {}
    before = flatten(config.compose_params(project.root))
    wanted = flatten(applied)
    overrides = [
        f"{key}={json.dumps(wanted[key])}" if key in before else f"+{key}={json.dumps(wanted[key])}"
        for key in sorted(wanted)
        if before.get(key) != wanted[key]
    ]
    return Applied(config.write_params_into_conf(project.root, applied), overrides)


@dataclass
class GcPlan:
    keep: list[Experiment]
    remove: list[Experiment]
    metric: str
    direction: str = "maximize"


def plan_gc(project: Project, keep_best: int) -> GcPlan:
    """Keep the `keep_best` best finished experiments by the primary metric, in its
    direction (the best is always kept, even with `keep_best` 0); drop the rest and every
    failed one. Queued and running experiments are never touched."""
    metric, direction = project.primary_metric(), project.metric_direction()
    experiments = [e for e in list_experiments(project) if e.kind == "experiment"]
    failed = [e for e in experiments if e.state == "failed"]
    finished = [e for e in experiments if e.state == "success"]
    ranked = rank(finished, metric, direction)
    kept = max(keep_best, 1)
    return GcPlan(
        keep=ranked[:kept], remove=ranked[kept:] + failed, metric=metric, direction=direction
    )


def remove(project: Project, experiments: list[Experiment]) -> None:
    if not experiments:
        return
    proc = dvcrepo.run_dvc(["exp", "remove", *[e.name for e in experiments]], project.root)
    if not proc.ok:
        raise EnvironmentProblem(
            f"dvc exp remove failed: {proc.tail()}",
            "run `dvc exp remove` by hand to see DVC's whole message",
        )


def rank(experiments: list[Experiment], metric: str, direction: str) -> list[Experiment]:
    """Best first by `metric` in its direction; experiments without it last."""
    return best_first(experiments, lambda e: e.metrics.get(metric), direction)


def best(experiments: list[Experiment], metric: str, direction: str) -> Experiment | None:
    """The finished experiment or commit with the best `metric` (None when none has it)."""
    ranked = rank([e for e in experiments if e.state == "success"], metric, direction)
    return ranked[0] if ranked and is_number(ranked[0].metrics.get(metric)) else None
