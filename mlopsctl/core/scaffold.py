"""`mlopsctl init`: render a template into a complete, committed, working project.

Everything happens in a staging folder beside the destination; only a finished project is
moved into place. A failure or Ctrl-C at any step removes the staging folder (and a
default DVC remote made by this run), so nothing half-made is left behind.
"""

from __future__ import annotations

import glob
import json
import keyword
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core import config, dvcrepo
from mlopsctl.core import git as vcs
from mlopsctl.core import python_env as environment
from mlopsctl.core.answers import mlopsctl_requirement, record_template_source
from mlopsctl.core.files import process_alive, write_atomic
from mlopsctl.errors import BadInput, EnvironmentProblem

if TYPE_CHECKING:
    from mlopsctl.core.data.infer import DataPlan

DEFAULT_TEMPLATE = "tabular-classification"
PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# a project refuses paths that belong to another tool's repository
FOREIGN_REPO_MARKERS = (".git", ".dvc")


@dataclass(frozen=True)
class InitOptions:
    dest: Path
    name: str | None = None
    package: str | None = None
    template: str = DEFAULT_TEMPLATE
    remote: str | None = None
    no_input: bool = True
    force: bool = False
    install_hooks: bool = True
    run_pipeline: bool = False
    mlopsctl_requirement: str | None = None  # requirements.txt's mlopsctl line (a PEP 508 spec)
    # the user's dataset and its target column (without them: the template's demo data)
    data: Path | None = None
    target: str | None = None
    task: str = "auto"


@dataclass
class InitResult:
    path: Path
    name: str
    package: str
    template: str
    remote_url: str
    commit: str
    data_files: list[str]
    hooks_installed: bool
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    plan: DataPlan | None = None


def templates_dir() -> Path:
    """Templates ship inside the wheel (mlopsctl/templates); in a source checkout they sit
    at the repository root."""
    package_root = Path(__file__).resolve().parents[1]
    for candidate in (package_root / "templates", package_root.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise EnvironmentProblem(
        "mlopsctl's templates are missing from its installation",
        "reinstall mlopsctl (pip install --force-reinstall mlopsctl)",
    )


def available_templates() -> list[str]:
    root = templates_dir()
    return sorted(p.name for p in root.iterdir() if (p / "copier.yml").is_file())


def default_project_name(dest: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", dest.resolve().name.lower()).strip("-")
    return slug


def validate_project_name(name: str) -> str:
    if not PROJECT_NAME_RE.match(name) or len(name) > 64:
        raise BadInput(
            f"invalid project name {name!r}",
            "use lowercase letters, digits and single dashes, starting with a letter "
            "(e.g. --name churn-model)",
        )
    return name


def validate_package_name(package: str) -> str:
    import importlib.util

    if not PACKAGE_NAME_RE.match(package) or keyword.iskeyword(package):
        raise BadInput(
            f"invalid package name {package!r}",
            "use a Python identifier in lowercase (e.g. --package churn_model)",
        )
    spec = importlib.util.find_spec(package)
    # a folder that happens to share the name is a namespace package, not a clash
    if package in sys.stdlib_module_names or (spec is not None and spec.origin is not None):
        raise BadInput(
            f"package name {package!r} would shadow the installed module {package!r}",
            "choose another name with --package",
        )
    return package


def validate_template(template: str) -> Path:
    choices = available_templates()
    if template not in choices:
        raise BadInput(f"unknown template {template!r}", f"choose one of: {', '.join(choices)}")
    return templates_dir() / template


def check_destination(dest: Path, force: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest} exists and is not a directory", "choose another PATH")
    if not dest.exists():
        return
    entries = sorted(p.name for p in dest.iterdir())
    if INCOMPLETE_MARKER in entries:
        return  # an init killed while moving its project in: the rerun redoes it
    foreign = [m for m in FOREIGN_REPO_MARKERS if m in entries]
    if foreign:
        raise BadInput(
            f"{dest} is already a {' and '.join(m.lstrip('.') for m in foreign)} repository",
            "mlopsctl init makes a new repository: choose an empty or new PATH",
        )
    if entries and not force:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise BadInput(
            f"{dest} is not empty ({shown})",
            "choose a new PATH, or pass --force to add the project's files "
            "(files the template does not produce are kept)",
        )


def default_remote_url(name: str) -> str:
    """A local directory remote outside the project, under the user's data dir (XDG)."""
    import platformdirs

    base = Path(platformdirs.user_data_dir("mlopsctl")) / "dvc-remotes"
    return str(base / f"{name}-{secrets.token_hex(4)}")


def init_project(
    options: InitOptions, progress: Callable[[str], None] = lambda step: None
) -> InitResult:
    """Make a project at options.dest; see the module docstring for the guarantees."""
    timings: dict[str, float] = {}
    dest = options.dest.absolute()
    check_destination(dest, options.force)
    name = validate_project_name(options.name or default_project_name(dest))
    package = validate_package_name(options.package or name.replace("-", "_"))
    template_path = validate_template(options.template)
    requirement, requirement_warning = mlopsctl_requirement(options.mlopsctl_requirement)
    plan, frame = None, None
    if options.data is not None or options.target is not None:
        from mlopsctl.core.data.infer import infer_plan

        if options.data is None or not options.target:
            raise BadInput(
                "--data and --target go together",
                "give the dataset and its target column: --data FILE --target COLUMN",
            )
        progress("reading the data and inferring its task and features")
        with _timed(timings, "infer"):
            plan, frame = infer_plan(options.data, options.target, options.task)

    with _timed(timings, "checks"):
        vcs.require_identity(dest.parent if dest.parent.exists() else Path.cwd())
        environment.require_project_python()
        if options.remote:
            remote_url = dvcrepo.normalise_remote_url(options.remote, Path.cwd())
            dvcrepo.require_remote_support(remote_url)
            made_remote = None
        else:
            remote_url = default_remote_url(name)
            made_remote = Path(remote_url)

    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(dest)
    staging = dest.parent / f".{dest.name}.mlopsctl-init-{os.getpid()}-{secrets.token_hex(4)}"
    remote_existed = made_remote is not None and made_remote.exists()
    if made_remote is not None and not remote_existed:
        # what a killed init leaves is found by the next one: the staging folder and remote
        write_atomic(_record_of(staging), json.dumps({"remote": str(made_remote)}))
    try:
        progress("rendering template")
        with _timed(timings, "render"):
            _render(
                template_path,
                staging,
                name,
                package,
                options.no_input,
                requirement,
                _plan_answers(plan),
            )
            history_warning = record_template_source(staging, options.template, requirement)
        progress("writing starting data")
        with _timed(timings, "data"):
            if plan is None:
                data_files = write_starting_data(staging)
            else:
                from mlopsctl.core.data.use import install_dataset

                data_files = [install_dataset(staging, plan, frame)]
        with _timed(timings, "params"):
            config.write_params(staging, config.compose_params(staging))
            if plan is None:
                write_starting_schema(staging)
        progress("initialising git and DVC")
        with _timed(timings, "git_init"):
            vcs.init_repository(staging)
        with _timed(timings, "dvc"):
            dvcrepo.init_project_dvc(staging, remote_url)
            progress("versioning data with DVC and pushing it to the remote")
            dvcrepo.add_and_push(staging, data_files)
        if options.run_pipeline:
            progress("running the pipeline (dvc repro) for a baseline model")
            with _timed(timings, "pipeline"):
                _run_baseline(staging)
        progress("committing")
        with _timed(timings, "commit"):
            commit = vcs.commit_all(
                staging, f"Initial commit: {name} from mlopsctl template {options.template}"
            )
        _move_into_place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if made_remote is not None and not remote_existed:
            shutil.rmtree(made_remote, ignore_errors=True)
        _record_of(staging).unlink(missing_ok=True)
        raise
    _record_of(staging).unlink(missing_ok=True)

    warnings: list[str] = [w for w in (requirement_warning, history_warning) if w]
    hooks = False
    if options.install_hooks:
        with _timed(timings, "hooks"):
            hooks, warning = _install_hooks(dest)
        if warning:
            warnings.append(warning)
    return InitResult(
        path=dest,
        name=name,
        package=package,
        template=options.template,
        remote_url=remote_url,
        commit=commit,
        data_files=data_files,
        hooks_installed=hooks,
        warnings=warnings,
        timings=timings,
        plan=plan,
    )


def _run_baseline(project: Path) -> None:
    repro = dvcrepo.run_dvc(["repro"], project)
    if not repro.ok:
        raise EnvironmentProblem(
            "the template's pipeline failed: " + repro.tail(3),
            "run without --run to get the project, then `dvc repro` in it to see the whole error",
        )
    dvcrepo.push_all(project)


def _plan_answers(plan: DataPlan | None) -> dict[str, str]:
    """The template answers the user's data decides: the task, its metric and first gates."""
    if plan is None:
        return {}
    kind = "regression" if plan.task == "regression" else f"{plan.task} classification"
    return {
        "task": "regression" if plan.task == "regression" else plan.task,
        "description": f"A tabular {kind} model of {plan.target!r}, reproducible with DVC+Hydra",
        "default_model": "ridge" if plan.task == "regression" else "logistic_regression",
        "primary_metric": plan.primary_metric,
        "metric_direction": plan.direction,
        "promotion_threshold": plan.threshold_rule,
        "promotion_champion": plan.champion_rule,
        "promotion_note": plan.gate_note,
    }


def _render(
    template: Path,
    staging: Path,
    name: str,
    package: str,
    no_input: bool,
    requirement: str,
    answers: dict[str, str] | None = None,
) -> None:
    from copier import run_copy

    interactive = not no_input and sys.stdin.isatty()
    identity = _git_identity()
    try:
        run_copy(
            str(template),
            staging,
            data={
                "project_name": name,
                "package_name": package,
                "artifact_name": name,
                "mlopsctl_requirement": requirement,
                **(answers or {}),
            },
            user_defaults=identity,
            defaults=not interactive,
            quiet=True,
            overwrite=True,
            cleanup_on_error=True,
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        from copier.errors import CopierError

        if isinstance(exc, CopierError):
            raise BadInput(
                f"the template could not be rendered: {exc}", "check the answers"
            ) from exc
        raise


def _git_identity() -> dict[str, str]:
    found = {}
    for key, answer in (("user.name", "author_name"), ("user.email", "author_email")):
        value = (vcs.git_ok(Path.cwd(), "config", "--get", key) or "").strip()
        if value:
            found[answer] = value
    return found


def write_starting_data(project: Path) -> list[str]:
    """Write the dataset named by conf/data/*.yaml `source` (no network) to its `raw` path."""
    import yaml

    data_cfg_path = project / "conf" / "data" / "default.yaml"
    data_cfg = yaml.safe_load(data_cfg_path.read_text(encoding="utf-8"))
    source, raw = data_cfg.get("source", ""), data_cfg["raw"]
    loader = STARTING_DATA.get(source)
    if loader is None:
        raise BadInput(
            f"the template names an unknown data source {source!r}",
            f"known sources: {', '.join(sorted(STARTING_DATA))}",
        )
    frame = loader()
    out = project / raw
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, lineterminator="\n")
    return [raw]


def write_starting_schema(project: Path) -> None:
    """The starting data's schema at conf/data/default.yaml `schema`, when it names one."""
    import yaml

    from mlopsctl.core.data.schema import write_schema

    data_cfg = yaml.safe_load((project / "conf" / "data" / "default.yaml").read_text("utf-8"))
    if data_cfg.get("schema"):
        target = Path(data_cfg["schema"])
        write_schema(project, project / data_cfg["raw"], name=target.stem)


def _sklearn_breast_cancer() -> Any:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


# Offline sources a template may name: bundled with a package, never downloaded.
STARTING_DATA: dict[str, Callable[[], Any]] = {"sklearn:breast_cancer": _sklearn_breast_cancer}


INCOMPLETE_MARKER = ".mlopsctl-init-incomplete"


def _record_of(staging: Path) -> Path:
    return staging.with_name(staging.name + ".json")


def remove_abandoned_staging(dest: Path) -> list[Path]:
    """Staging folders (and the DVC remotes they made) of inits into `dest` whose process is
    gone (killed): removed, so a rerun starts clean. Returns what was removed."""
    removed = []
    found = dest.parent.glob(f".{glob.escape(dest.name)}.mlopsctl-init-*")
    for folder in sorted({p.with_name(p.name.removesuffix(".json")) for p in found}):
        pid = folder.name.rsplit("-", 2)[-2]
        if pid.isdigit() and process_alive(int(pid)):
            continue
        record = _record_of(folder)
        try:
            remote = json.loads(record.read_text(encoding="utf-8")).get("remote")
        except (OSError, ValueError, AttributeError):
            remote = None
        if remote:
            shutil.rmtree(remote, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        record.unlink(missing_ok=True)
        removed.append(folder)
    return removed


def _move_into_place(staging: Path, dest: Path) -> None:
    if dest.exists() and not any(dest.iterdir()):
        dest.rmdir()
    if not dest.exists():
        os.rename(staging, dest)
        return
    # --force into a folder with files: merge; the template's files win, others stay. A
    # marker says a merge is under way (a killed one is redone by the next init), and .git
    # and .dvc arrive last, each in one rename: never half a repository.
    marker = dest / INCOMPLETE_MARKER
    if marker.exists():
        for name in FOREIGN_REPO_MARKERS:
            shutil.rmtree(dest / name, ignore_errors=True)
    marker.touch()
    _merge(staging, dest, last=FOREIGN_REPO_MARKERS)
    marker.unlink()
    shutil.rmtree(staging, ignore_errors=True)


def _merge(src_dir: Path, dest_dir: Path, last: tuple[str, ...] = ()) -> None:
    entries = sorted(src_dir.iterdir(), key=lambda p: (p.name in last, p.name))
    for src in entries:
        target = dest_dir / src.name
        if src.is_dir() and not src.is_symlink():
            if target.is_dir() and not target.is_symlink():
                _merge(src, target)
                continue
            if target.exists() or target.is_symlink():
                target.unlink()
            os.rename(src, target)
        else:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(src, target)


def _install_hooks(project: Path) -> tuple[bool, str | None]:
    from mlopsctl.core import proc

    pre_commit = proc.which("pre-commit")
    if pre_commit is None:
        return False, "pre-commit is not installed: hooks not set up (pip install pre-commit)"
    installed = proc.run([pre_commit, "install"], cwd=project)
    if not installed.ok:
        return False, f"`pre-commit install` failed: {installed.tail()}"
    return True, None


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(time.perf_counter() - start, 3)
