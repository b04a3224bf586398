"""`mlopsctl export kfp`: the project's lifecycle as Kubeflow Pipelines v2 pipelines (the
lifecycle, and a sweep that fans out with ParallelFor), compiled to their YAML with the kfp
SDK. OpenShift AI's data science pipelines run them as they are.

No `from __future__ import annotations` here: kfp reads the pipelines' annotations as types."""

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlopsctl.core.export.plan import ExportPlan, write_documents
from mlopsctl.errors import EnvironmentProblem

FILES = ("pipeline.yaml", "sweep.yaml")
KFP_HINT = 'pip install "mlopsctl[kfp]" (the kfp SDK pins requests and urllib3, so it is extra)'
KFP_RUNTIME = "_KFP_RUNTIME"  # kfp's switch: "true" in a step's container, where nothing compiles


def require_kfp() -> None:
    try:
        _import_kfp_for_compiling()
    except ImportError as exc:
        raise EnvironmentProblem("the kfp SDK is not installed", KFP_HINT) from exc


def _import_kfp_for_compiling() -> None:
    """Import kfp's DSL and compiler, and not what compiling never uses: kfp/__init__
    imports `kfp.client` (the kubernetes client, ~1 s) and `kfp.components` (its YAML
    loader, which imports `requests`). kfp skips both when `_KFP_RUNTIME` is true, as it is
    in a step's container (kfp's executor command sets it); it is set only while kfp's own
    __init__ runs, so the DSL and the compiler import whole. Every kfp module stays
    importable later in the process (`from kfp import components`, `import kfp.client`);
    only the shortcut `kfp.Client` is missing (`from kfp.client import Client` works)."""
    import os
    import sys

    if "kfp" not in sys.modules:
        previous = os.environ.get(KFP_RUNTIME)
        os.environ[KFP_RUNTIME] = "true"
        try:
            import kfp  # its __init__ only, with the switch on
        finally:
            if previous is None:
                del os.environ[KFP_RUNTIME]
            else:
                os.environ[KFP_RUNTIME] = previous
    import kfp.compiler
    import kfp.dsl  # noqa: F401


def pipelines(plan: ExportPlan) -> dict[str, Callable[..., Any]]:
    """The pipeline functions (kfp `dsl.pipeline`s), by the file each compiles to."""
    require_kfp()
    from kfp import dsl

    from mlopsctl.core.export import kfp_components as steps
    from mlopsctl.core.export.secrets import KINDS, platform_config

    secret_names = {kind: plan.secret(kind) for kind in KINDS}

    def component(func: Callable[..., Any]) -> Any:
        # kfp is in the pipeline image already: nothing is pip-installed when a step starts
        return dsl.component(func, base_image=plan.image, install_kfp_package=False)

    clone, pull_data, train = (component(f) for f in (steps.clone, steps.pull_data, steps.train))
    promote, build_serving = component(steps.promote), component(steps.build_serving)

    def sized(task: Any, *secrets: str, large: bool = False) -> Any:
        # the Secrets the step reads, mounted (optional) where use_mounted_secrets finds them
        task.platform_config.update(platform_config(secret_names, secrets))
        task.set_cpu_request("1" if large else "100m")
        task.set_memory_request("2G" if large else "256M")
        task.set_memory_limit("8G" if large else "1G")
        return task

    def source(git_url: str, git_revision: str, dvc_remote: str) -> Any:
        cloned = sized(clone(git_url=git_url, git_revision=git_revision), "git")
        cloned.set_caching_options(False)  # a branch moves: always clone
        cloned.set_display_name("clone")
        pulled = sized(pull_data(source=cloned.outputs["source"], dvc_remote=dvc_remote), "dvc")
        return pulled.set_display_name("dvc pull")

    @dsl.pipeline(
        name=plan.slug,
        description=f"{plan.name}: clone, dvc pull, train, promote to {plan.stage} through "
        "the gates, build and push the serving image.",
    )
    def lifecycle(
        git_url: str = plan.git_url,
        git_revision: str = plan.git_revision,
        dvc_remote: str = plan.dvc_remote,
        overrides: str = "",
        stage: str = plan.stage,
        image_repo: str = plan.registry,
        build_image: bool = True,
    ) -> None:
        pulled = source(git_url, git_revision, dvc_remote)
        trained = train(data=pulled.outputs["data"], overrides=overrides)
        sized(trained, "dvc", large=True)
        trained.set_caching_options(False)
        promoted = sized(promote(trained=trained.outputs["trained"], stage=stage), "git", "dvc")
        promoted.set_caching_options(False)
        with dsl.If(build_image == True):  # noqa: E712  (a kfp condition, not a Python test)
            built = build_serving(
                promoted=promoted.outputs["promoted"],
                model=promoted.outputs["Output"],
                image_repo=image_repo,
            )
            sized(built, "dvc", "registry", large=True).set_caching_options(False)

    @dsl.pipeline(
        name=f"{plan.slug}-sweep",
        description=f"{plan.name}: one training run per override set, in parallel; their "
        "metrics. Nothing is promoted.",
    )
    def sweep(
        git_url: str = plan.git_url,
        git_revision: str = plan.git_revision,
        dvc_remote: str = plan.dvc_remote,
        sweep: list = list(plan.sweep),  # noqa: B006  (a kfp parameter's default)
    ) -> None:
        pulled = source(git_url, git_revision, dvc_remote)
        with dsl.ParallelFor(sweep) as overrides:
            sized(train(data=pulled.outputs["data"], overrides=overrides), "dvc", large=True)

    return {"pipeline.yaml": lifecycle, "sweep.yaml": sweep}


def compile_pipelines(plan: ExportPlan) -> dict[str, str]:
    """The compiled YAML of each pipeline, by file name."""
    from kfp import compiler

    compiled = {}
    with tempfile.TemporaryDirectory(prefix="mlopsctl-kfp-") as tmp:
        for name, function in pipelines(plan).items():
            path = Path(tmp) / name
            compiler.Compiler().compile(function, str(path))
            compiled[name] = HEADER.format(name=plan.name) + path.read_text(encoding="utf-8")
    return compiled


HEADER = """\
# Written by `mlopsctl export kfp` for {name} (Kubeflow Pipelines v2, compiled by the kfp SDK).
# Upload it to the pipelines UI (OpenShift AI: Data Science Pipelines > Import pipeline).
"""


def export_kfp(plan: ExportPlan, out: Path, force: bool = False) -> list[Path]:
    return write_documents(out, compile_pipelines(plan), force)
