"""Stage changes that move the deployment (GitOps): a promotion or rollback in the registry,
then, when the project deploys from `deploy/serving`, that stage's overlay pinned to the
new holder's image in one commit, pushed with the new tags when asked. `promote`,
`rollback` and `retrain` all change stages through here, so the deployment in git keeps
equal to the registry (`check deploy-current` guards it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsctl.errors import BadInput, MlopsctlError

if TYPE_CHECKING:
    from mlopsctl.core.export.deploy import DeployResult
    from mlopsctl.core.project import Project
    from mlopsctl.core.registry.promote import PromoteRequest, PromoteResult, RollbackResult


def deployed_root(project: Project, dry_run: bool) -> Path | None:
    """The registry's root when its stages are deployed from deploy/serving (a dry run moves
    nothing; outside a repository the registry change itself says what is wrong)."""
    from mlopsctl.core.export.deploy import has_serving
    from mlopsctl.core.registry.queries import registry_root

    if dry_run:
        return None
    try:
        root = registry_root(project.root)
    except MlopsctlError:
        return None
    return root if has_serving(root) else None


def move_deployment(
    root: Path, name: str, stage: str, *, push: bool, tags: list[str]
) -> DeployResult | None:
    """After a stage change: pin the stage's overlay (when it is one of the exported stages
    of this model) in one commit; `push` sends it with the stage change's `tags`."""
    from mlopsctl.core.export.deploy import deploy, read_spec
    from mlopsctl.core.export.serving import DEFAULT_OUT

    spec = read_spec(root / DEFAULT_OUT)
    if stage not in spec.stages or name != spec.name:
        return None
    try:
        return deploy(root, stage, push=push, tags=tags)
    except BadInput as exc:
        raise BadInput(
            f"{exc.message}; the registry change is recorded, the deployment did not move",
            f"{exc.hint}, then: mlopsctl deploy {stage}" + (" --push" if push else ""),
        ) from None


def promote(project: Project, request: PromoteRequest) -> tuple[PromoteResult, DeployResult | None]:
    """`registry.promote`, then the deployment moved; the tags are pushed with its commit."""
    from mlopsctl.core.registry import promote as registry

    root = deployed_root(project, request.dry_run)
    result = registry.promote(project, replace(request, push=request.push and root is None))
    return result, _follow(root, result, result.name, result.stage, request.push)


def rollback(
    project: Project,
    name: str,
    stage: str,
    *,
    reason: str | None = None,
    push: bool = False,
    dry_run: bool = False,
) -> tuple[RollbackResult, DeployResult | None]:
    """`registry.rollback`, then the deployment moved back, as `promote`."""
    from mlopsctl.core.registry import promote as registry

    root = deployed_root(project, dry_run)
    result = registry.rollback(
        name, stage, reason=reason, push=push and root is None, dry_run=dry_run, project=project
    )
    return result, _follow(root, result, name, stage, push)


def _follow(
    root: Path | None, result: PromoteResult | RollbackResult, name: str, stage: str, push: bool
) -> DeployResult | None:
    """The deployment follows a written stage change; its push carries the new tags."""
    if root is None or not result.written:
        return None
    moved = move_deployment(root, name, stage, push=push, tags=result.tags)
    if moved is not None and moved.pushed_to:
        result.pushed_to = moved.pushed_to
    return moved
