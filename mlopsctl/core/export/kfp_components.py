"""The lifecycle's steps as KFP v2 lightweight components. The kfp SDK compiles each
function's source into the pipeline YAML, so every function stands alone (its imports
inside); they run on the pipeline image, where git, DVC and mlopsctl are installed. The
repository travels from step to step as an artifact (a folder: the clone, with .git and
DVC's cache), as KFP passes data; each step works in its own copy. Each step first puts the
credentials the cluster mounted where git, DVC and the push read them (export/secrets.py)."""

from kfp.dsl import Artifact, Input, Metrics, Output


def clone(git_url: str, git_revision: str, source: Output[Artifact]) -> str:
    """Clone the repository at a revision (with its registry tags); the commit."""
    import os
    import subprocess

    from mlopsctl.core.export.secrets import use_mounted_secrets

    use_mounted_secrets()

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=source.path, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"git {args[0]} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    os.makedirs(source.path, exist_ok=True)
    git("clone", "--quiet", git_url, ".")
    git("checkout", "--quiet", git_revision)
    git("config", "user.name", os.environ.get("GIT_COMMITTER_NAME", "mlopsctl pipeline"))
    git("config", "user.email", os.environ.get("GIT_COMMITTER_EMAIL", "pipeline@mlopsctl.invalid"))
    return git("rev-parse", "HEAD")


def pull_data(source: Input[Artifact], dvc_remote: str, data: Output[Artifact]) -> None:
    """`dvc pull` what the commit references from the DVC remote."""
    import shutil
    import subprocess
    import sys

    from mlopsctl.core.export.secrets import use_mounted_secrets

    use_mounted_secrets()

    shutil.copytree(source.path, data.path, symlinks=True, dirs_exist_ok=True)
    for args in (["remote", "default", "--local", dvc_remote], ["pull", "--quiet"]):
        done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=data.path, text=True)
        if done.returncode:
            raise RuntimeError(f"dvc {args[0]} failed (exit {done.returncode})")


def train(
    data: Input[Artifact], overrides: str, trained: Output[Artifact], metrics: Output[Metrics]
) -> str:
    """`mlopsctl train` with the Hydra overrides; the result committed; the metrics as KFP
    Metrics (the dashboards show them) and as JSON."""
    import json
    import shlex
    import shutil
    import subprocess
    import sys

    from mlopsctl.core.export.secrets import use_mounted_secrets

    use_mounted_secrets()

    shutil.copytree(data.path, trained.path, symlinks=True, dirs_exist_ok=True)
    command = [sys.executable, "-m", "mlopsctl", "train", "--no-exp", "--json"]
    done = subprocess.run(
        [*command, *shlex.split(overrides)], cwd=trained.path, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"mlopsctl train failed (exit {done.returncode}): {done.stderr[-2000:]}")
    values = json.loads(done.stdout)["metrics"]
    subprocess.run(["git", "add", "-A"], cwd=trained.path, check=True)
    if subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=trained.path).returncode:
        message = f"Train in the pipeline: {overrides}".strip()
        subprocess.run(
            ["git", "commit", "--quiet", "--no-verify", "-m", message],
            cwd=trained.path,
            check=True,
        )
    for name, value in sorted(values.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics.log_metric(name, value)
    return json.dumps(values, sort_keys=True)


def promote(trained: Input[Artifact], stage: str, promoted: Output[Artifact]) -> str:
    """Push the model to the DVC remote, promote it through the gates, push the tags;
    the version promoted (NAME@vX.Y.Z)."""
    import json
    import shutil
    import subprocess
    import sys

    from mlopsctl.core.export.secrets import use_mounted_secrets

    use_mounted_secrets()

    shutil.copytree(trained.path, promoted.path, symlinks=True, dirs_exist_ok=True)
    for command in (
        [sys.executable, "-m", "dvc", "push", "--quiet"],
        [sys.executable, "-m", "mlopsctl", "promote", "--to", stage, "--push", "--json"],
    ):
        done = subprocess.run(command, cwd=promoted.path, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command[2:4])} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    return f"{result['name']}@{result['version']}"


def build_serving(promoted: Input[Artifact], model: str, image_repo: str) -> str:
    """Build the model's serving image with the native builder (no daemon, no privilege)
    and push it to image_repo (empty: build only); its digest."""
    import json
    import subprocess
    import sys

    from mlopsctl.core.export.secrets import use_mounted_secrets

    use_mounted_secrets()

    command = [sys.executable, "-m", "mlopsctl", "build", model, "--json"]
    if image_repo:
        command += ["--push", image_repo]
    done = subprocess.run(command, cwd=promoted.path, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"mlopsctl build failed: {done.stderr[-2000:]}")
    return str(json.loads(done.stdout)["digest"])
