"""`mlopsctl train --queue`: every combination of a sweep as a concurrent `dvc exp run --temp`
(DVC's celery queue hangs here: dvc#10398), ranked by the primary metric."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

from mlopsctl.core import config
from mlopsctl.core.pipeline.run import (
    Events,
    StageEvent,
    StageFailed,
    _ignore,
    interrupt,
    project_lock,
    run_stages,
)
from mlopsctl.core.project import Project
from mlopsctl.errors import BadInput


@dataclass
class SweepResult:
    names: list[str]
    overrides: dict[str, list[str]]
    primary_metric: str
    experiments: list[Any]  # core.experiments.Experiment, best first
    failed: list[str]
    direction: str = "maximize"  # of the primary metric: best first means lowest first


def sweep(
    project: Project,
    overrides: list[str] | tuple[str, ...],
    *,
    name: str | None = None,
    jobs: int = 1,
    on_event: Events = _ignore,
) -> SweepResult:
    """Expand Hydra sweep syntax, validate every combination, then run each as a DVC
    experiment in its own temporary directory (`dvc exp run --temp`), `jobs` at a time,
    and rank the results by the primary metric.

    Not DVC's celery queue (`--queue` + `--run-all`): its workers hang after a few
    experiments (treeverse/dvc#10398, #8165), seen here with two jobs. Each run snapshots
    the workspace when it starts, so params.yaml is written for one combination, its run
    started, and the next written only once that run has taken its snapshot."""
    import secrets
    import threading

    from mlopsctl.core.files import write_atomic
    from mlopsctl.core.pipeline import experiments as exps

    combos = config.expand_sweep(overrides)
    composed = [config.compose_validated(project.root, combo) for combo in combos]
    prefix = name or f"sweep-{secrets.token_hex(3)}"
    names = [f"{prefix}-{i}" for i in range(1, len(combos) + 1)]
    taken = {e.name for e in exps.list_experiments(project)} & set(names)
    if taken:
        raise BadInput(
            f"experiment names already used: {', '.join(sorted(taken))}",
            "choose another --name, or drop the old ones with `mlopsctl exp gc`",
        )
    failures: dict[str, str] = {}
    slots = threading.Semaphore(max(1, jobs))
    started: list[subprocess.Popen[str]] = []

    def run_one(exp_name: str, snapshotted: threading.Event) -> None:
        def events(event: StageEvent) -> None:
            if event.kind == "experiment":
                snapshotted.set()
            elif event.stage:
                event.stage = f"{exp_name}: {event.stage}"
            on_event(event)

        try:
            args = ["exp", "run", "--temp", "--no-hydra", "--name", exp_name]
            # tethered as `train` is: a killed mlopsctl takes its experiments along
            run_stages(project, args, events, on_start=started.append)
        except StageFailed as exc:
            failures[exp_name] = exc.stage
        except Exception as exc:  # reported with the others, never lost in a thread
            failures[exp_name] = str(exc)
        finally:
            snapshotted.set()
            slots.release()

    with project_lock(project):
        original = project.params_path.read_bytes() if project.params_path.exists() else None
        threads = []
        try:
            for exp_name, params in zip(names, composed, strict=True):
                slots.acquire()
                config.write_params(project.root, params)
                snapshotted = threading.Event()
                thread = threading.Thread(target=run_one, args=(exp_name, snapshotted))
                thread.start()
                threads.append(thread)
                snapshotted.wait()
        except BaseException:
            # Ctrl-C reaches this thread only: pass it on to every run (their own groups)
            for proc in started:
                interrupt(proc)
            raise
        finally:
            for thread in threads:
                thread.join()
            if original is not None:
                write_atomic(project.params_path, original)
    metric, direction = project.primary_metric(), project.metric_direction()
    found = {e.name: e for e in exps.list_experiments(project) if e.name in names}
    failed = [n for n in names if n in failures or n not in found or found[n].state != "success"]
    ranked = exps.rank(
        [found[n] for n in names if n in found and n not in failed], metric, direction
    )
    return SweepResult(
        names=names,
        overrides=dict(zip(names, combos, strict=True)),
        primary_metric=metric,
        experiments=ranked,
        failed=failed,
        direction=direction,
    )
