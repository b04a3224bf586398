"""The checks behind mlopsctl's pre-commit hooks (`mlopsctl check NAME`).

Each returns what it found; the CLI renders it and turns a finding into exit code 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import config
from mlopsctl.core import git as vcs
from mlopsctl.core.data import schema
from mlopsctl.core.data.tables import is_table
from mlopsctl.core.dvcrepo import open_repo

# files that hold data or models, whatever their size
DATA_SUFFIXES = (
    ".csv", ".tsv", ".parquet", ".pq", ".feather", ".arrow", ".avro", ".orc", ".xlsx",
    ".pkl", ".pickle", ".joblib", ".onnx", ".h5", ".hdf5", ".pt", ".pth", ".ckpt",
    ".npy", ".npz", ".safetensors", ".tfrecord", ".csv.gz", ".tsv.gz",
)  # fmt: skip
DEFAULT_MAX_KB = 500


@dataclass(frozen=True)
class Repository:
    """Where a hook runs: an mlopsctl project, or any git repository (the hooks used from
    mlopsctl's `.pre-commit-hooks.yaml`), with or without DVC."""

    root: Path
    project: bool  # an mlopsctl project: hints may name mlopsctl commands
    dvc: bool  # a DVC repository (.dvc/ at the root)

    @property
    def add_data(self) -> str:
        """The command that puts a file under DVC, as the user can run it here."""
        return "mlopsctl data add" if self.project else "dvc add"


def repository(start: Path) -> Repository:
    """The mlopsctl project at or above `start`, else the git repository around it."""
    from mlopsctl.core.project import find_project
    from mlopsctl.errors import EnvironmentProblem

    try:
        root = find_project(start).root
        project = True
    except EnvironmentProblem:
        root = vcs.toplevel(start)
        project = False
    return Repository(root, project, (root / ".dvc").is_dir())


def _as_repository(where: Path | Repository) -> Repository:
    if isinstance(where, Repository):
        return where
    return Repository(where, True, (where / ".dvc").is_dir())


@dataclass
class UntrackedData:
    path: str
    size: int
    reason: str


@dataclass
class Finding:
    """One thing a check found wrong, said for a person."""

    what: str
    detail: str = ""


@dataclass
class CheckResult:
    name: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hint: str = ""

    @property
    def passed(self) -> bool:
        return not self.findings


def no_untracked_data(
    where: Path | Repository, files: Sequence[str] = (), max_kb: int = DEFAULT_MAX_KB
) -> CheckResult:
    """Staged files that look like data or a model and that DVC does not track (git alone
    is enough: in a repository without DVC every such file is untracked)."""
    repo = _as_repository(where)
    root = repo.root
    result = CheckResult("no-untracked-data")
    candidates = []
    for name in files or vcs.staged_files(root):
        path = root / name
        if not path.is_file():
            continue
        size = path.stat().st_size
        if name.lower().endswith(DATA_SUFFIXES):
            candidates.append(UntrackedData(name, size, "a data or model file"))
        elif size > max_kb * 1024:
            candidates.append(UntrackedData(name, size, f"larger than {max_kb} KB"))
    if not candidates:
        return result
    # outputs a pipeline keeps in git (`cache: false`: metrics, plots) are DVC's to track
    git_outputs = dvc_git_outputs(root) if repo.dvc else set()
    offenders = [c for c in candidates if c.path not in git_outputs]
    add = repo.add_data
    for item in offenders:
        result.findings.append(
            Finding(
                f"{item.path} ({_size(item.size)}) is {item.reason}, not tracked by DVC",
                f"git rm --cached {item.path} && {add} {item.path}",
            )
        )
    if offenders:
        shown = " ".join(o.path for o in offenders)
        first = "" if repo.dvc else "dvc init, then "
        result.hint = (
            f"version it with DVC instead of git: {first}git rm --cached {shown} && {add} {shown}"
        )
    return result


def dvc_git_outputs(root: Path) -> set[str]:
    """Pipeline outputs that live in git (`cache: false`), relative to `root`."""
    import os

    if not (root / "dvc.yaml").is_file():
        return set()
    with open_repo(root) as repo:
        return {
            Path(os.path.relpath(out.fs_path, root)).as_posix()
            for out in repo.index.outs
            if not out.use_cache
        }


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def config_composes(where: Path | Repository, fix: bool = False) -> CheckResult:
    """Every option of every config group composes, and params.yaml is the default config."""
    from mlopsctl.errors import BadInput

    repo = _as_repository(where)
    root = repo.root
    result = CheckResult("config-composes")
    conf_dir = root / config.CONF_DIR
    if not (conf_dir / "config.yaml").is_file():
        result.notes.append(f"no {config.CONF_DIR}/config.yaml here: no Hydra config to compose")
        return result
    groups = sorted(p.name for p in conf_dir.iterdir() if p.is_dir()) if conf_dir.is_dir() else []
    try:
        default = config.compose_params(root)
    except BadInput as exc:
        result.findings.append(Finding("the default config does not compose", exc.message))
        result.hint = "fix conf/ so that it composes (see Hydra's message above)"
        return result
    for group in groups:
        for option in config.group_options(conf_dir, group):
            try:
                config.compose_params(root, [f"{group}={option}"])
            except BadInput as exc:
                result.findings.append(Finding(f"{group}={option} does not compose", exc.message))
    if result.findings:
        result.hint = "fix the config files named above (conf/)"
        return result
    if _load_params(root) != default:
        # params.yaml changed since HEAD and conf/ does not compose to it: an applied
        # experiment (or a hand edit) that recomposing would throw away
        edited = bool(vcs.output(root, "diff", "--name-only", "HEAD", "--", config.PARAMS_FILE))
        if fix and not edited:
            config.write_params(root, default)
            result.findings.append(
                Finding(
                    "params.yaml was stale: rewritten from conf/", "stage it: git add params.yaml"
                )
            )
            result.hint = "git add params.yaml and commit again"
        elif edited:
            result.findings.append(
                Finding(
                    "params.yaml has changes that conf/ does not compose to (an applied "
                    "experiment?)",
                    "recomposing would discard them, so --fix leaves them",
                )
            )
            result.hint = (
                "keep them: `mlopsctl exp apply NAME` writes an experiment's params into conf/ "
                "(or set them in conf/ by hand); discard them: git checkout params.yaml"
            )
        else:
            result.findings.append(
                Finding("params.yaml differs from the composed default config (conf/)")
            )
            result.hint = (
                "recompose it: mlopsctl check config-composes --fix"
                if repo.project
                else "recompose params.yaml from conf/ (the hook's `args: [--fix]` does it)"
            )
    return result


def _load_params(root: Path) -> Any:
    """params.yaml as it is, or None when it is missing or not a YAML mapping (then it does
    not match what conf/ composes, which is the finding)."""
    from mlopsctl.core.project import Project
    from mlopsctl.errors import BadInput

    if not (root / config.PARAMS_FILE).is_file():
        return None
    try:
        return Project(root).params()
    except BadInput:
        return None


def pipeline_fresh(where: Path | Repository) -> CheckResult:
    """dvc.lock agrees with the code, params and data the stages depend on.

    Outputs that are only missing from the workspace (not pulled) do not count: the lock
    can be right about them. A project whose pipeline never ran (no dvc.lock) passes, and
    so does a repository without DVC (nothing to compare)."""
    repo = _as_repository(where)
    root = repo.root
    result = CheckResult("pipeline-fresh")
    if not repo.dvc:
        result.notes.append("not a DVC repository (no .dvc/): no pipeline to check")
        return result
    if not (root / "dvc.lock").is_file():
        result.notes.append("no dvc.lock yet: the pipeline has not run, nothing to compare")
        return result
    with open_repo(root) as repo:
        status = repo.status()
    for stage, changes in sorted(status.items()):
        reasons = _stale_reasons(changes)
        if reasons:
            result.findings.append(Finding(f"stage {stage}", "; ".join(reasons)))
    if result.findings:
        result.hint = "run the pipeline (`dvc repro`), then commit dvc.lock and push again"
    return result


def _stale_reasons(changes: list[Any]) -> list[str]:
    reasons = []
    for change in changes:
        if isinstance(change, str):
            reasons.append(change)
            continue
        for kind, items in change.items():
            if kind == "changed outs":
                items = {p: s for p, s in items.items() if s not in ("deleted", "not in cache")}
            if isinstance(items, dict) and items:
                shown = ", ".join(f"{p} {s}" for p, s in sorted(items.items()))
                reasons.append(f"{kind}: {shown}")
            elif items and not isinstance(items, dict):
                reasons.append(str(kind))
    return reasons


def data_valid(where: Path | Repository, files: Sequence[str] = ()) -> CheckResult:
    """Staged data (files, or the data behind staged .dvc files and schemas) that has a
    schema validates against it."""
    repo = _as_repository(where)
    root = repo.root
    result = CheckResult("data-valid")
    if not (root / schema.SCHEMAS_DIR).is_dir():
        result.notes.append(f"no {schema.SCHEMAS_DIR.as_posix()}/ here: no data to validate")
        return result
    targets = sorted(_data_behind(root, files or vcs.staged_files(root)))
    reports = []
    for target in targets:
        path = root / target
        schema_file = schema.schema_for(root, path)
        if schema_file is None:
            continue
        if not path.is_file():
            result.notes.append(f"{target}: not in the workspace (dvc pull), not checked")
            continue
        report = schema.validate_data(path, schema_file, shown_as=target)
        reports.append(report)
        for failure in report.failures:
            result.findings.append(
                Finding(
                    f"{target}: {failure.column or '(table)'}: {failure.check}",
                    f"{failure.count} failing, e.g. {failure.examples[:3]}",
                )
            )
    if result.findings:
        result.hint = "fix the data, or the schema if the data is right" + (
            "; `mlopsctl data validate PATH` shows every failure" if repo.project else ""
        )
    return result


def _data_behind(root: Path, files: Sequence[str]) -> set[str]:
    import yaml

    found = set()
    schemas_dir = schema.SCHEMAS_DIR.as_posix() + "/"
    by_schema = {v.resolve(): k for k, v in schema.schemas(root).items()}
    for name in files:
        if name.endswith(".dvc"):
            try:
                pointer = yaml.safe_load((root / name).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                continue
            folder = Path(name).parent
            for out in pointer.get("outs") or []:
                target = (folder / str(out.get("path", ""))).as_posix()
                if is_table(Path(target)):
                    found.add(target)
        elif name.startswith(schemas_dir) and name.endswith(".yaml"):
            data = by_schema.get((root / name).resolve())
            if data:
                found.add(data)
        elif is_table(Path(name)):
            found.add(name)
    return found


def deploy_current(root: Path) -> CheckResult:
    """Every stage's overlay in git runs its registry holder's image (by digest)."""
    from mlopsctl.core.export.deploy import deploy_problems
    from mlopsctl.core.export.serving import DEFAULT_OUT

    result = CheckResult("deploy-current")
    if not (root / DEFAULT_OUT).is_dir():
        result.notes.append(f"no {DEFAULT_OUT} folder: nothing is deployed from git")
        return result
    result.findings = [Finding(problem) for problem in deploy_problems(root)]
    if result.findings:
        result.hint = "move the overlay to the registry's holder: mlopsctl deploy STAGE"
    return result
