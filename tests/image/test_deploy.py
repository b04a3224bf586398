"""`export serving`, `deploy`, and promote/rollback moving the deployment, with real parts:
images built and pushed to a loopback docker-registry, the registry's tags, overlays
rendered by the real kustomize and checked by `export check` against ../shared/k8s-schemas."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.test_init import assert_one_line_error
from tests.conftest import commit_new_model, copy_project, git, mlopsctl, run
from tests.core.export.test_check import SCHEMAS
from tests.image.registry import Registry, registry

__all__ = ["registry"]
pytestmark = [pytest.mark.image, pytest.mark.slow]
REPO_URL = "https://git.example.com/team/demo.git"


def kustomize() -> str:
    found = os.environ.get("KUSTOMIZE") or shutil.which("kustomize")
    if not found:
        pytest.skip("kustomize is not installed (.ci/run installs the npm package)")
    return found


def render(project: Path, overlay: str) -> list[dict[str, Any]]:
    proc = run([kustomize(), "build", overlay], project, check=True)
    (project / "rendered.yaml").write_text(proc.stdout)
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def images(value: Any) -> list[str]:
    """Every `image:` anywhere in a document."""
    if isinstance(value, dict):
        own = [value["image"]] if isinstance(value.get("image"), str) else []
        return own + [i for v in value.values() for i in images(v)]
    if isinstance(value, list):
        return [i for v in value for i in images(v)]
    return []


def ok(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = mlopsctl(*args, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@dataclass
class Deployable:
    project: Path
    repo: str  # REGISTRY/REPO both images were pushed to
    v1: str  # digests
    v2: str


@pytest.fixture(scope="module")
def deployable_template(
    trained_template: Path,
    small_base: Path,
    build_env: dict[str, str],
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Deployable:
    """v0.0.1 holds production, v0.0.2 staging; both images built and pushed (locks in
    dist/); deploy/serving exported and committed. Made once, copied per test."""
    project = copy_project(trained_template, tmp_path_factory.mktemp("deployable"))
    repo = f"{registry.host}/demo/model"
    push = ("--base", str(small_base), "--push", repo, "--tls-verify=false")
    ok("build", *push, cwd=project, env=build_env)
    ok("promote", "--to", "staging", cwd=project)
    ok("promote", "--to", "production", cwd=project)
    ok("export", "serving", "--repo-url", REPO_URL, "--route", cwd=project)
    git("add", "deploy", cwd=project)
    git("commit", "-q", "-m", "serving manifests", cwd=project)
    commit_new_model(project, 3.0, "model v2: C=3")
    ok("build", *push, "-o", "dist/v2/image.tar", cwd=project, env=build_env)
    ok("promote", "--to", "staging", "--force", "--reason", "tests", cwd=project)  # deploys
    v1 = json.loads((project / "dist/image.lock.json").read_text())["image"]["digest"]
    v2 = json.loads((project / "dist/v2/image.lock.json").read_text())["image"]["digest"]
    assert v1 != v2
    return Deployable(project, repo, v1, v2)


@pytest.fixture
def deployable(deployable_template: Deployable, tmp_path: Path) -> Deployable:
    project = copy_project(deployable_template.project, tmp_path)
    return Deployable(
        project, deployable_template.repo, deployable_template.v1, deployable_template.v2
    )


def changed_in_head(project: Path) -> list[str]:
    return git("show", "--name-only", "--format=", "HEAD", cwd=project).stdout.split()


def test_each_overlay_renders_pinned_and_passes_export_check(deployable: Deployable) -> None:
    project = deployable.project
    pins = {"staging": deployable.v2, "production": deployable.v1}
    for target in ("kserve", "kubernetes"):
        out = f"deploy/{target}"
        ok("export", "serving", "--target", target, "--out", out, "--repo-url", REPO_URL,
           "--route", "--auto-sync", cwd=project)  # fmt: skip
        for stage, digest in pins.items():
            docs = render(project, f"{out}/overlays/{stage}")
            found = [i for d in docs for i in images(d)]
            # every image field of every kind is the stage holder's, by digest
            assert found and set(found) == {f"{deployable.repo}@{digest}"}
            assert {d["metadata"]["namespace"] for d in docs} == {f"demo-{stage}"}
            ok("export", "check", "rendered.yaml", "--schema-location", str(SCHEMAS), cwd=project)
            kinds = {d["kind"] for d in docs}
            workload = next(d for d in docs if d["kind"] in ("InferenceService", "Deployment"))
            if target == "kserve":
                assert kinds == {"InferenceService", "ServiceMonitor", "PrometheusRule", "Route"}
                annotations = workload["metadata"]["annotations"]
                assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
                pod = workload["spec"]["predictor"]
            else:
                assert kinds == {
                    "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                    "ServiceMonitor", "PrometheusRule", "Route",
                }  # fmt: skip
                pod = workload["spec"]["template"]["spec"]
            container = pod["containers"][0]
            assert container["ports"][0]["containerPort"] == 8080
            assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
            security = container["securityContext"]
            assert security["runAsNonRoot"] and not security["allowPrivilegeEscalation"]
            assert security["readOnlyRootFilesystem"] and security["capabilities"] == {
                "drop": ["ALL"]
            }
            assert "runAsUser" not in security and "runAsUser" not in pod["securityContext"]
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert set(container["resources"]) == {"requests", "limits"}
            rules = next(d for d in docs if d["kind"] == "PrometheusRule")
            exprs = " ".join(r["expr"] for r in rules["spec"]["groups"][0]["rules"])
            for metric in ("mlopsctl_requests_total", "mlopsctl_request_duration_seconds_bucket",
                           "mlopsctl_errors_total"):  # fmt: skip
                assert metric in exprs
        apps = project / out / "argocd"
        ok("export", "check", str(apps), "--schema-location", str(SCHEMAS), cwd=project)
        app = yaml.safe_load((apps / "application-production.yaml").read_text().split("---")[0])
        assert app["spec"]["source"] == {
            "repoURL": REPO_URL, "targetRevision": "HEAD", "path": f"{out}/overlays/production"
        }  # fmt: skip
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_promote_moves_exactly_the_production_digest_and_rollback_restores_it(
    deployable: Deployable,
) -> None:
    project = deployable.project
    overlay = project / "deploy/serving/overlays/production/image.json"
    before = overlay.read_text()
    assert deployable.v1 in before
    ok("check", "deploy-current", cwd=project)

    ok("promote", "--to", "production", "--version", "v0.0.2", "--force", "--reason", "t",
       cwd=project)  # fmt: skip
    assert changed_in_head(project) == ["deploy/serving/overlays/production/image.json"]
    lines = git("show", "--format=", "-U0", "HEAD", cwd=project).stdout.splitlines()
    removed = [x[1:].strip(" ,") for x in lines if x.startswith("-") and not x.startswith("---")]
    added = [x[1:].strip(" ,") for x in lines if x.startswith("+") and not x.startswith("+++")]
    assert set(removed) == {f'"value": "{deployable.repo}@{deployable.v1}"', '"value": "v0.0.1"'}
    assert set(added) == {f'"value": "{deployable.repo}@{deployable.v2}"', '"value": "v0.0.2"'}
    ok("check", "deploy-current", cwd=project)
    lineage = json.loads(ok("registry", "lineage", "demo@v0.0.2", "--json", cwd=project))
    assert {d["stage"]: d["digest"] for d in lineage["deployed"]} == {
        "staging": deployable.v2, "production": deployable.v2
    }  # fmt: skip

    ok("rollback", "demo", "--stage", "production", cwd=project)
    assert changed_in_head(project) == ["deploy/serving/overlays/production/image.json"]
    assert overlay.read_text() == before
    ok("check", "deploy-current", cwd=project)
    assert ok("deploy", "production", cwd=project).startswith("production already deploys")


def test_a_hand_edited_overlay_fails_deploy_current_naming_both_digests(
    deployable: Deployable,
) -> None:
    project = deployable.project
    overlay = project / "deploy/serving/overlays/production/image.json"
    overlay.write_text(overlay.read_text().replace(deployable.v1, deployable.v2))
    git("commit", "-q", "-am", "production by hand", cwd=project)
    proc = mlopsctl("check", "deploy-current", cwd=project)
    assert proc.returncode == 1
    assert deployable.v1 in proc.stderr and deployable.v2 in proc.stderr
    assert "mlopsctl deploy" in proc.stderr
    # deploy puts it back, in a commit of that file only
    ok("deploy", "production", cwd=project)
    assert changed_in_head(project) == ["deploy/serving/overlays/production/image.json"]
    ok("check", "deploy-current", cwd=project)


def test_deploying_what_cannot_be_deployed_is_exit_2_with_the_command(
    deployable: Deployable,
) -> None:
    project = deployable.project
    head = git("rev-parse", "HEAD", cwd=project).stdout
    proc = mlopsctl("deploy", "qa", cwd=project)
    assert_one_line_error(proc, 2)
    assert "mlopsctl promote demo --to qa" in proc.stderr
    shutil.rmtree(project / "dist" / "v2")  # v0.0.2 (staging) has no image here now
    overlay = project / "deploy/serving/overlays/staging/image.json"
    overlay.unlink()
    git("commit", "-q", "-am", "drop the staging overlay", cwd=project)
    head = git("rev-parse", "HEAD", cwd=project).stdout
    proc = mlopsctl("deploy", "staging", cwd=project)
    assert_one_line_error(proc, 2)
    assert "mlopsctl build demo@v0.0.2 --push" in proc.stderr
    assert git("rev-parse", "HEAD", cwd=project).stdout == head and not overlay.exists()
    # export into a folder mlopsctl did not write needs --force
    (project / "deploy/other").mkdir()
    (project / "deploy/other/mine.yaml").write_text("a: 1\n")
    proc = mlopsctl("export", "serving", "--out", "deploy/other", "--repo-url", REPO_URL,
                    cwd=project)  # fmt: skip
    assert_one_line_error(proc, 2)
    assert "--force" in proc.stderr


def test_retrain_promotes_and_the_staging_overlay_waits_for_the_new_image(
    deployable: Deployable, small_base: Path, build_env: dict[str, str]
) -> None:
    """retrain's promotion goes through the same stage change as `promote`: the overlay
    follows when the new version has an image; until it has one, retrain says so (and
    deploy-current keeps the unbuilt version from being pushed)."""
    from tests.cli.test_retrain import _drifted

    project = deployable.project
    overlay = project / "deploy/serving/overlays/staging/image.json"
    before = overlay.read_text()
    landing = _drifted(project, project.parent / "landing.csv")
    proc = mlopsctl("retrain", "--data", str(landing), cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "✓ promote" in proc.stderr and "- deploy" in proc.stderr
    assert "mlopsctl build demo@v0.0.3 --push" in proc.stderr
    assert overlay.read_text() == before
    stale = mlopsctl("check", "deploy-current", cwd=project)
    assert stale.returncode == 1 and "v0.0.3" in stale.stderr

    ok("build", "demo@v0.0.3", "--base", str(small_base), "--push", deployable.repo,
       "--tls-verify=false", "-o", "dist/v3/image.tar", cwd=project, env=build_env)  # fmt: skip
    ok("deploy", "staging", cwd=project)
    assert changed_in_head(project) == ["deploy/serving/overlays/staging/image.json"]
    ok("check", "deploy-current", cwd=project)
