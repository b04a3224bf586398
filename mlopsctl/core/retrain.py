"""`mlopsctl retrain`: new data in, validated, (drift-checked,) trained, committed, promoted
through the gates — or, on any failure, the repository exactly as it was (MLOps level 1)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core import git as vcs
from mlopsctl.core.monitor import drift
from mlopsctl.core.pipeline.run import Events
from mlopsctl.core.project import Project
from mlopsctl.errors import BadInput, CheckFailed, MlopsctlError

if TYPE_CHECKING:
    import pandas as pd

    from mlopsctl.core.data.schema import ValidationReport
    from mlopsctl.core.export.deploy import DeployResult
    from mlopsctl.core.registry.promote import PromoteResult


@dataclass
class RetrainStep:
    step: str
    status: str  # done, skipped, failed
    detail: str = ""


@dataclass
class RetrainResult:
    # promoted | unchanged (same data as now) | no-drift | failed
    outcome: str
    data: str
    raw: str
    steps: list[RetrainStep] = field(default_factory=list)
    commit: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    promotion: PromoteResult | None = None
    validation: ValidationReport | None = None
    deployment: DeployResult | None = None  # the stage's overlay moved (deploy/serving)


class RetrainFailed(MlopsctlError):
    """A step failed and the repository was put back; carries the steps for the summary."""

    def __init__(self, cause: MlopsctlError, result: RetrainResult) -> None:
        super().__init__(
            f"retrain stopped: {cause.message}; the repository, model and registry are unchanged",
            "the new model is not good enough for the stage (gates above); nothing was "
            "committed or tagged"
            if isinstance(cause, CheckFailed) and hasattr(cause, "result")
            else cause.hint,
        )
        self.exit_code = cause.exit_code
        self.cause = cause
        self.result = result


Step = Callable[[RetrainStep], None]
JOURNAL = Path(".dvc") / "tmp" / "mlopsctl-retrain.json"
COMMIT_PREFIX = "Retrain on "


def _no_step(step: RetrainStep) -> None:
    return None


def _no_event(event: Any) -> None:
    return None


def retrain(
    project: Project,
    data: Path,
    *,
    stage: str = "staging",
    append: bool = False,
    if_drift: bool = False,
    on_step: Step = _no_step,
    on_event: Events = _no_event,
) -> RetrainResult:
    from mlopsctl.core.pipeline import run as pipeline

    with pipeline.project_lock(project):
        return _retrain(project, data, stage, append, if_drift, on_step, on_event)


@dataclass
class _Run:
    """One retrain as its steps see it: what was asked, and what the steps found so far."""

    project: Project
    data: Path
    stage: str
    append: bool
    if_drift: bool
    on_step: Step
    on_event: Events
    result: RetrainResult
    params: dict[str, Any]
    raw: Path
    start: str = ""
    new: pd.DataFrame | None = None
    frame: pd.DataFrame | None = None
    content: bytes = b""
    how: str = ""
    shown: str = ""

    def step(self, name: str, status: str, detail: str = "") -> None:
        self.result.steps.append(RetrainStep(name, status, detail))
        self.on_step(self.result.steps[-1])

    def journal(self, phase: str) -> None:
        entry = {"phase": phase, "start": self.start, "stage": self.stage, "data": str(self.data)}
        _journal(self.project.root, entry)


def _retrain(
    project: Project,
    data: Path,
    stage: str,
    append: bool,
    if_drift: bool,
    on_step: Step,
    on_event: Events,
) -> RetrainResult:
    """retrain under the project lock (no `train` can see its temporary data); a run killed
    midway is finished (its commit promoted) or undone first, as its journal says. The checks
    write nothing (one that answers False ends the run there); the changes run journalled,
    and any failure among them puts back the starting commit."""
    recovered = _recover(project, on_step)
    if recovered is not None:
        return recovered
    run = _start(project, data, stage, append, if_drift, on_step, on_event)
    for check in (_read_new_data, _validate, _check_drift):
        if check(run) is False:
            return run.result
    run.journal("working")
    try:
        for change in (_bring_in_data, _train, _push, _commit, _promote):
            change(run)
    except MlopsctlError as exc:
        run.result.steps.append(RetrainStep(_failed_step(run.result), "failed", exc.message))
        _restore(project.root, run.start)
        _journal(project.root, None)
        run.result.commit = None
        raise RetrainFailed(exc, run.result) from exc
    except BaseException:
        _restore(project.root, run.start)
        _journal(project.root, None)
        raise
    run.result.outcome = "promoted"
    return run.result


def _start(
    project: Project,
    data: Path,
    stage: str,
    append: bool,
    if_drift: bool,
    on_step: Step,
    on_event: Events,
) -> _Run:
    """The starting commit (a clean tree) and the project's raw data file, which `data` is not."""
    root = project.root
    start = _preflight(project, stage)
    params = project.params().get("data") or {}
    raw = root / str(params.get("raw") or "")
    if not params.get("raw") or not raw.is_file():
        raise BadInput(
            f"the project's raw data file ({params.get('raw')!r}, data.raw) is not there",
            "run `mlopsctl data pull`, or set data.raw in conf/data/default.yaml",
        )
    if data.resolve() == raw.resolve():
        raise BadInput(
            f"{data} is the project's raw data file itself",
            "give the new data's own path (e.g. from your landing zone); retrain copies it in",
        )
    result = RetrainResult("failed", str(data), raw.relative_to(root).as_posix())
    return _Run(
        project, data, stage, append, if_drift, on_step, on_event, result, params, raw, start
    )


def _read_new_data(run: _Run) -> bool:
    """The new raw file's bytes (appended or replacing); False when it is what is there now."""
    from mlopsctl.core.data.tables import read_table

    run.new = read_table(run.data)
    run.frame, content = _new_raw(run.raw, run.data, run.new, run.append)
    if content is None or _md5(content) == _tracked_md5(run.raw):
        run.step("data", "skipped", f"{run.result.raw} already holds this data")
        run.result.outcome = "unchanged"
        return False
    run.content = content
    rows = len(run.new) if run.append else len(run.frame)
    run.how = f"{rows} rows to append" if run.append else f"{rows} rows to replace the old"
    run.step("data", "done", run.how)
    return True


def _validate(run: _Run) -> bool:
    """The new data against the project's schema (CheckFailed, nothing written, if not)."""
    from mlopsctl.core.data import schema

    frame, params = run.frame, run.params
    assert frame is not None
    schema_file = run.project.root / str(params.get("schema") or "")
    if not (params.get("schema") and schema_file.is_file()):
        run.step("validate", "skipped", "the project has no schema (data.schema)")
        return True
    failures = schema.validate_frame(frame, schema.load_schema(schema_file))
    run.result.validation = schema.ValidationReport(
        run.result.raw, str(params["schema"]), len(frame), len(frame.columns), failures
    )
    if failures:
        run.step("validate", "failed", f"{len(failures)} failed checks")
        schema.require_valid([run.result.validation])  # raises CheckFailed
    run.step("validate", "done", f"{len(frame)} rows match {params['schema']}")
    return True


def _check_drift(run: _Run) -> bool:
    """With --if-drift: False (nothing to do) unless the new data drifted."""
    if not run.if_drift:
        return True
    root, params = run.project.root, run.params
    reference = root / str(params.get("reference_profile") or "")
    if not params.get("reference_profile") or not reference.is_file():
        raise BadInput(
            "--if-drift needs the reference profile (data.reference_profile)",
            "run the pipeline once (`mlopsctl train`) to save it",
        )
    target = params.get("target")
    checked = drift.compare(
        drift.load_reference(reference, {}),
        run.new,
        drift.load_settings(root),
        reference_name=str(params["reference_profile"]),
        current_name=str(run.data),
        optional=(str(target),) if target else (),
    )
    run.result.drift = checked.to_dict()
    summary = f"{len(checked.drifted_columns)} of {len(checked.columns)} columns drifted"
    if not checked.dataset_drift:
        run.step("drift", "done", f"no dataset drift ({summary}): nothing to do")
        run.result.outcome = "no-drift"
        return False
    run.step("drift", "done", f"dataset drift ({summary})")
    return True


def _bring_in_data(run: _Run) -> None:
    from mlopsctl.core.data.versioning import add_data

    _write(run.raw, run.content)
    add_data(run.project.root, [run.raw])


def _train(run: _Run) -> None:
    from mlopsctl.core.pipeline import run as pipeline
    from mlopsctl.core.pipeline.metrics import format_number

    trained = pipeline.train(run.project, (), experiment=False, on_event=run.on_event)
    run.result.metrics = trained.metrics
    primary = trained.primary_metric
    run.shown = (
        f"{primary} {format_number(trained.metrics[primary])}"
        if primary in trained.metrics
        else "no metrics"
    )
    run.step("train", "done", run.shown)


def _push(run: _Run) -> None:
    from mlopsctl.core import dvcrepo

    pushed = dvcrepo.push_all(run.project.root)
    run.step("push", "done", f"{pushed} files to the DVC remote")


def _commit(run: _Run) -> None:
    how = run.how.replace(" to ", " ")
    run.result.commit = vcs.commit_tracked(
        run.project.root, f"{COMMIT_PREFIX}{run.data.name} ({how}): {run.shown}"
    )
    run.journal("committed")
    run.step("commit", "done", (run.result.commit or "")[:8])


def _promote(run: _Run) -> None:
    _promote_commit(run.project, run.stage, run.result, run.step)


def _promote_commit(
    project: Project, stage: str, result: RetrainResult, step: Callable[..., None]
) -> None:
    from mlopsctl.core.registry import gates, promote

    settings = gates.project_settings(project)
    result.promotion = promote.promote(
        project, promote.PromoteRequest(stage=settings.check_stage(stage))
    )
    _journal(project.root, None)
    step("promote", "done", f"{result.promotion.name} {result.promotion.version} -> {stage}")
    _deploy(project, result.promotion.name, stage, result, step)


def _deploy(
    project: Project, name: str, stage: str, result: RetrainResult, step: Callable[..., None]
) -> None:
    """The deployment follows the promotion (a project with deploy/serving). A new version
    has no image yet: the stage's overlay then stays, and the step says what to run."""
    from mlopsctl.core import release

    root = release.deployed_root(project, dry_run=False)
    if root is None:
        return
    tags = result.promotion.tags if result.promotion is not None else []
    try:
        result.deployment = release.move_deployment(root, name, stage, push=False, tags=tags)
    except BadInput as exc:
        step("deploy", "skipped", f"{exc.message} ({exc.hint})")
        return
    if result.deployment is not None:
        step("deploy", "done", f"{stage} overlay -> {result.deployment.image}")


def _journal(root: Path, entry: dict[str, Any] | None) -> None:
    """Record where a retrain is (None: it is over), so a rerun after a kill can finish it."""
    import json

    from mlopsctl.core.files import write_atomic

    path = root / JOURNAL
    if entry is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, json.dumps(entry))


def _recover(project: Project, on_step: Step) -> RetrainResult | None:
    """Deal with a retrain that was killed: before its commit, put the starting commit back
    (then this run goes on); after it, finish the promotion (the result of this run)."""
    import json

    root = project.root
    try:
        entry = json.loads((root / JOURNAL).read_text(encoding="utf-8"))
        start, stage, data = str(entry["start"]), str(entry["stage"]), str(entry["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    head = vcs.head_commit(root) or ""
    committed = (
        head != start
        and (vcs.git_ok(root, "rev-parse", "--verify", "-q", "HEAD^") or "").strip() == start
        and vcs.output(root, "log", "-1", "--format=%s").startswith(COMMIT_PREFIX)
    )
    (root / ".git" / "index.lock").unlink(missing_ok=True)  # a git killed with us
    if not committed:
        if head == start:
            _restore(root, start)
        _journal(root, None)
        on_step(RetrainStep("recover", "done", f"undid a killed retrain (back at {start[:8]})"))
        return None
    raw = (project.params().get("data") or {}).get("raw")
    result = RetrainResult("failed", data, str(raw))
    result.commit = head
    result.steps.append(
        RetrainStep("recover", "done", f"a killed retrain committed {head[:8]}: promoting it")
    )
    on_step(result.steps[-1])

    def step(name: str, status: str, detail: str = "") -> None:
        result.steps.append(RetrainStep(name, status, detail))
        on_step(result.steps[-1])

    if _promoted(project, head, stage):  # killed after the tags were written
        _journal(root, None)
        step("promote", "done", f"already in {stage}")
        from mlopsctl.core.registry.promote import model_name

        _deploy(project, model_name(project, None, head)[0], stage, result, step)
        result.outcome = "promoted"
        return result
    try:
        _promote_commit(project, stage, result, step)
    except MlopsctlError as exc:
        result.steps.append(RetrainStep("promote", "failed", exc.message))
        _restore(root, start)
        _journal(root, None)
        result.commit = None
        raise RetrainFailed(exc, result) from exc
    result.outcome = "promoted"
    return result


def _preflight(project: Project, stage: str) -> str:
    """The starting commit; the tree must be clean, as a failure resets to it."""
    from mlopsctl.core.registry import gates
    from mlopsctl.core.registry.promote import open_registry

    head = open_registry(project)
    vcs.require_identity(project.root)
    gates.project_settings(project).check_stage(stage)
    changed = vcs.changed_files(project.root)
    if changed:
        raise BadInput(
            f"the project has uncommitted changes: {', '.join(changed[:3])}",
            "commit or stash them first: retrain commits its results, and undoes everything "
            "on failure",
        )
    if vcs.current_branch(project.root) is None:
        raise BadInput("HEAD is detached", "check out the branch to retrain on")
    return head


def _new_raw(
    raw: Path, data: Path, new: pd.DataFrame, append: bool
) -> tuple[pd.DataFrame, bytes | None]:
    """The raw file's new rows and bytes; None when appending rows already at its end."""
    import pandas as pd

    from mlopsctl.core.data.tables import read_table

    same_format = raw.name.lower().endswith(".csv") and data.name.lower().endswith(".csv")
    if not append:
        return new, data.read_bytes() if same_format else _encode(raw, new)
    old = read_table(raw)
    if len(old) >= len(new) and list(old.columns) == list(new.columns):
        tail = old.iloc[len(old) - len(new) :].reset_index(drop=True)
        if tail.equals(new.reset_index(drop=True)):
            return old, None
    frame = pd.concat([old, new], ignore_index=True)
    return frame, _encode(raw, frame)


def _encode(raw: Path, frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    if raw.name.lower().endswith((".parquet", ".pq")):
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def _md5(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def _tracked_md5(raw: Path) -> str | None:
    """The md5 the raw file's .dvc pointer records (what HEAD's data is)."""
    import yaml

    pointer = raw.with_name(raw.name + ".dvc")
    try:
        loaded = yaml.safe_load(pointer.read_text(encoding="utf-8")) or {}
        return str(loaded["outs"][0]["md5"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


def _write(raw: Path, content: bytes) -> None:
    from mlopsctl.core.files import write_atomic

    write_atomic(raw, content)


def _failed_step(result: RetrainResult) -> str:
    order = ("data", "train", "push", "commit", "promote")
    done = {s.step for s in result.steps}
    return next((s for s in order if s not in done), "promote")


def _restore(root: Path, start: str) -> None:
    """HEAD, index and workspace as at `start`: git's files, then DVC's from the cache."""
    from mlopsctl.core.dvcrepo import run_dvc

    vcs.git(root, "reset", "--quiet", "--hard", start)
    checkout = run_dvc(["checkout", "--force", "--quiet"], root)
    if not checkout.ok:
        raise CheckFailed(
            "retrain failed and `dvc checkout` could not restore the data: " + checkout.tail(),
            "run `dvc checkout --force` in the project",
        )


def _promoted(project: Project, commit: str, stage: str) -> bool:
    from mlopsctl.core.registry import promote
    from mlopsctl.core.registry import state as states
    from mlopsctl.core.registry import tags as registry

    name, _ = promote.model_name(project, None, commit)
    state = states.model_state(name, registry.read_tags(project.root, artifact=name))
    version = state.version_at(commit)
    return version is not None and state.stages.get(stage) == version
