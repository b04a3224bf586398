"""`mlopsctl train` / `evaluate`: compose the config, then let DVC run the stages.

mlopsctl owns the step DVC skips: `conf/` is composed (with overrides) into `params.yaml`
before every run, so `params.yaml` is never stale. DVC runs as a subprocess
(`dvc exp run --no-hydra` for an experiment, `dvc repro` with `--no-exp`), its output
parsed into stage events; nothing changed means no DVC run at all.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlopsctl.core import config, dvcrepo
from mlopsctl.core import git as vcs
from mlopsctl.core.pipeline.metrics import read_metrics
from mlopsctl.core.project import Project
from mlopsctl.errors import CheckFailed, EnvironmentProblem

LOCK_FILE = Path(".dvc") / "tmp" / "mlopsctl.lock"

_RUNNING = re.compile(r"^Running stage '(?P<stage>[^']+)':")
_SKIPPED = re.compile(r"^Stage '(?P<stage>[^']+)' didn't change, skipping")
_RESTORED = re.compile(r"^Stage '(?P<stage>[^']+)' is cached - skipping run")
_FAILED = re.compile(r"^ERROR: failed to reproduce '(?P<stage>[^']+)'")
_EXPERIMENT = re.compile(r"^Reproducing experiment '(?P<name>[^']+)'")
_RAN_EXPERIMENT = re.compile(r"^Ran experiment\(s\): (?P<names>.+)$")


@dataclass
class StageEvent:
    """What the CLI shows as the pipeline runs."""

    kind: Literal["experiment", "start", "cached", "restored", "done", "output", "failed", "note"]
    stage: str = ""
    seconds: float | None = None
    line: str = ""


@dataclass
class StageRun:
    stage: str
    status: Literal["ran", "cached", "restored", "failed"]  # restored: from DVC's run-cache
    seconds: float | None = None


@dataclass
class RunResult:
    up_to_date: bool
    params_changed: bool
    experiment: str | None
    stages: list[StageRun] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline_metrics: dict[str, Any] = field(default_factory=dict)
    baseline: str = "HEAD"
    primary_metric: str = "f1"
    # maximize | minimize for each metric (Project.metric_directions)
    directions: dict[str, str] = field(default_factory=dict)


class StageFailed(CheckFailed):
    """A stage's command failed; `output` holds what DVC and the stage printed."""

    def __init__(self, stage: str, output: list[str]) -> None:
        super().__init__(
            f"stage '{stage}' failed",
            "fix the error above and run again (the workspace is as DVC left it)",
        )
        self.stage = stage
        self.output = output


Events = Callable[[StageEvent], None]


def _ignore(event: StageEvent) -> None:
    return None


@contextmanager
def project_lock(project: Project) -> Iterator[None]:
    """One mlopsctl run per project at a time; the OS drops the lock if the process dies.
    Reentrant: a workflow holding it (retrain) runs `train` under the same lock."""
    import fcntl

    if project.root in _held_locks:
        yield
        return

    path = project.root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # the stage group of a run killed a moment ago holds the lock until it is gone
        deadline = time.monotonic() + 3
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise EnvironmentProblem(
                    f"another run holds the lock on this project (pid {holder})",
                    "wait for it to finish; the lock goes away when that process ends",
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        # a run killed mid-stage leaves DVC's own lock entries behind: no run of ours is
        # alive now, so entries of dead processes are stale
        dvcrepo.clear_dead_rwlock_entries(project.root)
        _held_locks[project.root] = fd
        yield
    finally:
        _held_locks.pop(project.root, None)
        os.close(fd)


_held_locks: dict[Path, int] = {}  # project root -> the fd of its project lock, while held


def recover_lock_file(project: Project) -> str | None:
    """A dvc.lock that a killed DVC left empty or torn is put back as git has it (or removed
    when git has none), so the run that follows is a plain rerun; returns a note saying so.
    Call only while holding the project lock."""
    from mlopsctl.core import git as vcs

    path = project.root / "dvc.lock"
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if _valid_lock(text):
        return None
    committed = vcs.show_file(project.root, "HEAD", "dvc.lock")
    if committed is not None and _valid_lock(committed):
        from mlopsctl.core.files import write_atomic

        write_atomic(path, committed)
        return "dvc.lock was empty or torn (a killed run?): restored the committed one"
    path.unlink()
    return "dvc.lock was empty or torn (a killed run?) and git has none: removed it"


def _valid_lock(text: str) -> bool:
    """Whether `text` is a dvc.lock DVC accepts: YAML, and its lockfile schema (a lock torn
    midway can still be YAML, e.g. a params mapping cut to a bare key)."""
    import yaml
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not (isinstance(loaded, dict) and isinstance(loaded.get("stages"), dict)):
        return False
    try:
        COMPILED_LOCKFILE_SCHEMA(loaded)
    except Exception:  # voluptuous' Invalid: not what DVC wrote
        return False
    return True


def prepare_params(project: Project, overrides: list[str] | tuple[str, ...]) -> bool:
    """Compose and validate the config, then write params.yaml if it changed."""
    return config.write_params(project.root, config.compose_validated(project.root, overrides))


def pipeline_up_to_date(project: Project) -> bool:
    """DVC's own status, in-process (a `dvc status` subprocess costs as much as a no-op run)."""
    from dvc.lock import LockError

    try:
        with dvcrepo.open_repo(project.root) as repo:
            return not repo.status()
    except LockError as exc:
        raise _busy(str(exc)) from exc


def train(
    project: Project,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    name: str | None = None,
    experiment: bool = True,
    force: bool = False,
    on_event: Events = _ignore,
) -> RunResult:
    """Compose, then run the whole pipeline unless nothing changed."""
    with project_lock(project):
        note = recover_lock_file(project)
        if note:
            on_event(StageEvent("note", line=note))
        changed = prepare_params(project, overrides)
        # `dvc exp run` costs ~2.6x a no-op `dvc repro` even when nothing changed: ask DVC's
        # status first. `dvc repro` (--no-exp) finds out as cheaply by itself.
        quick = not force and not changed and name is None and experiment
        if quick and pipeline_up_to_date(project):
            return _result(project, up_to_date=True, changed=False, exp=None, stages=[])
        if experiment:
            args = ["exp", "run", "--no-hydra"] + (["--name", name] if name else [])
        else:
            args = ["repro"]
        if force:
            args.append("--force")
        # `dvc exp run` resets git's index: what the user staged (`data add`) stays staged
        with vcs.index_kept(project.root):
            stages, exp_name = run_stages(project, args, on_event)
    nothing_ran = all(stage.status == "cached" for stage in stages)
    return _result(project, up_to_date=nothing_ran, changed=changed, exp=exp_name, stages=stages)


def evaluate(
    project: Project, *, stage: str = "evaluate", rev: str | None = None, on_event: Events = _ignore
) -> RunResult:
    """Evaluate the workspace's model: `dvc repro evaluate` (upstream stages only if their
    inputs changed), or nothing when up to date. params.yaml is used as it is: evaluating
    must not retrain with a different config."""
    if rev is not None:
        read_metrics(project.root, rev)  # an unknown rev fails before anything runs
    with project_lock(project):
        note = recover_lock_file(project)
        if note:
            on_event(StageEvent("note", line=note))
        if pipeline_up_to_date(project):
            stages: list[StageRun] = []
            up_to_date = True
        else:
            stages, _ = run_stages(project, ["repro", stage], on_event)
            up_to_date = False
    return _result(
        project,
        up_to_date=up_to_date,
        changed=False,
        exp=None,
        stages=stages,
        baseline=rev or "HEAD",
    )


def _result(
    project: Project,
    *,
    up_to_date: bool,
    changed: bool,
    exp: str | None,
    stages: list[StageRun],
    baseline: str = "HEAD",
) -> RunResult:
    metrics = read_metrics(project.root)
    baseline_metrics = read_metrics(project.root, baseline)
    return RunResult(
        up_to_date=up_to_date,
        params_changed=changed,
        experiment=exp,
        stages=stages,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        baseline=baseline,
        primary_metric=project.primary_metric(),
        directions=project.metric_directions([*metrics, *baseline_metrics]),
    )


def run_stages(
    project: Project,
    dvc_args: list[str],
    on_event: Events,
    *,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> tuple[list[StageRun], str | None]:
    """Run dvc, stream its output as stage events; raise StageFailed when a stage fails.

    dvc and the stages run in a process group of their own under a small tether process
    that kills the whole group if mlopsctl dies (kill -9), so no stage runs on unlocked and
    overwrites outputs a rerun made; the tether keeps the project lock until the group is
    gone. Ctrl-C is passed on to the group. `on_start` gets the process (a caller running
    several from threads interrupts them with `interrupt`)."""
    proc = _start_dvc(project, dvc_args)
    if on_start is not None:
        on_start(proc)
    stream = _StageStream(on_event)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            stream.feed(raw.rstrip("\n"))
        code = proc.wait()
    except BaseException:
        # Ctrl-C: pass it on to dvc and the stages (their own group), let dvc clean up, go
        _signal_group(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.kill()
        raise
    if code != 0:
        output, failed = stream.output, stream.failed
        busy = [line for line in output if "Unable to acquire lock" in line or "is busy" in line]
        if busy and failed is None:
            raise _busy(busy[0])
        if failed is None and stream.current is not None:
            failed = stream.current[0]
        if failed:
            stream.stages.append(StageRun(failed, "failed"))
        raise StageFailed(failed or "(dvc)", output)
    stream.finish_current()
    return stream.stages, stream.experiment


def _start_dvc(project: Project, dvc_args: list[str]) -> subprocess.Popen[str]:
    lock_fd = _held_locks.get(project.root)
    command = [sys.executable, "-c", _TETHER, str(os.getpid()), *dvcrepo.dvc_command(dvc_args)]
    return subprocess.Popen(
        command,
        cwd=project.root,
        env=dvcrepo.dvc_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
        pass_fds=(lock_fd,) if lock_fd is not None else (),
    )


class _StageStream:
    """DVC's output read line by line into stage runs and events."""

    def __init__(self, on_event: Events) -> None:
        self.on_event = on_event
        self.stages: list[StageRun] = []
        self.output: list[str] = []
        self.current: tuple[str, float] | None = None
        self.experiment: str | None = None
        self.failed: str | None = None

    def finish_current(self) -> None:
        if self.current is not None:
            seconds = round(time.monotonic() - self.current[1], 2)
            self.stages.append(StageRun(self.current[0], "ran", seconds))
            self.on_event(StageEvent("done", self.current[0], seconds))
            self.current = None

    def feed(self, line: str) -> None:
        self.output.append(line)
        on_event = self.on_event
        if m := _RUNNING.match(line):
            self.finish_current()
            self.current = (m["stage"], time.monotonic())
            on_event(StageEvent("start", m["stage"]))
        elif m := _SKIPPED.match(line):
            self.finish_current()
            self.stages.append(StageRun(m["stage"], "cached"))
            on_event(StageEvent("cached", m["stage"]))
        elif m := _RESTORED.match(line):
            self.finish_current()
            self.stages.append(StageRun(m["stage"], "restored"))
            on_event(StageEvent("restored", m["stage"]))
        elif m := _FAILED.match(line):
            self.failed = m["stage"]
            self.current = None
            on_event(StageEvent("failed", self.failed, line=line))
        elif m := _EXPERIMENT.match(line):
            self.experiment = m["name"]
            on_event(StageEvent("experiment", line=self.experiment))
        elif m := _RAN_EXPERIMENT.match(line):
            self.experiment = m["names"].strip() or self.experiment
        else:
            on_event(StageEvent("output", self.current[0] if self.current else "", line=line))


def _busy(detail: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"another DVC process holds this project's lock: {detail.splitlines()[0]}",
        "wait for the other `dvc` run to finish (or end it), then run again",
    )


def interrupt(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C for a tethered run that another thread waits on: to dvc and its stages."""
    _signal_group(proc.pid, signal.SIGINT)


def _signal_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# The tether: leader of the stage group (start_new_session). The kernel sends it SIGTERM when
# mlopsctl dies (PR_SET_PDEATHSIG); it then SIGKILLs the group (dvc, the stages, itself).
# Ctrl-C reaches the group from mlopsctl; the tether ignores it and waits for dvc.
_TETHER = """
import os, signal, subprocess, sys
def end(*_):
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, end)
signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    end()
def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
child = subprocess.Popen(sys.argv[2:], preexec_fn=default_sigint)
code = child.wait()
sys.exit(code if code >= 0 else 128 - code)
"""


def plot_paths(project: Project) -> list[Path]:
    """The plot files the pipeline's stages declare (directories expanded), as they exist."""
    pipeline = project.pipeline()
    found: list[Path] = []
    for stage in (pipeline.get("stages") or {}).values():
        for entry in stage.get("plots") or []:
            for rel in entry if isinstance(entry, dict) else [entry]:
                path = project.root / str(rel)
                if path.is_dir():
                    found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
                elif path.is_file():
                    found.append(path)
    return found
