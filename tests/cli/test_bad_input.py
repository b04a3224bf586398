"""The bad-input corpus: every command met with what users really give it — bad arguments,
corrupt, empty or odd-encoding tables, broken YAML, hand-edited params.yaml or dvc.yaml, a
replaced model.pkl, odd characters in names, a read-only project.

Each case must end with its documented exit code, one line of error and a hint, no
traceback, and the project's tracked files and tags as they were. A new case is one line
in CASES: (id, setup, command, exit code)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.test_init import assert_one_line_error
from tests.conftest import copy_project, git, run

RAW = "data/raw/breast_cancer.csv"
SCHEMA = "data/schemas/breast_cancer.yaml"


def write(rel: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return setup


def artifacts_as_list(project: Path) -> None:
    text = (project / "dvc.yaml").read_text()
    start = text.index("artifacts:")
    (project / "dvc.yaml").write_text(text[:start] + "artifacts:\n  - demo\n  - models/model.pkl\n")


def none(project: Path) -> None:
    return None


LATIN1 = "mean_radius,label\n1.0,caf\xe9\n".encode("latin-1")
BINARY = bytes(range(256)) * 64
ODD = "data/we ird;$(x)'\u00e9.csv"
BROKEN_DVC_YAML = write("dvc.yaml", "stages: [\n")
FOREST = "conf/model/random_forest.yaml"
HUGE_LINE = "a" * (2 << 20)  # one 2 MiB line: no header a person wrote
TO_STAGING = ["promote", "--to", "staging"]
DRIFT = ["monitor", "drift", "--current"]

# (id, setup, command, exit code)
CASES: list[tuple[str, Callable[[Path], None], list[str], int]] = [
    # init
    ("init-into-a-project", none, ["init", "."], 2),
    ("init-bad-name", none, ["init", "../new", "--name", "Bad Name!", "--no-input"], 2),
    ("init-into-a-file", none, ["init", "README.md", "--no-input"], 2),
    ("init-unknown-template", none, ["init", "../n2", "--template", "nosuch", "--no-input"], 2),
    # train / evaluate / exp / report
    ("train-bad-override-type", none, ["train", "model.C=abc"], 2),
    ("train-unknown-group", none, ["train", "nosuch=x"], 2),
    ("train-garbled-override", none, ["train", "=="], 2),
    ("train-unclosed-override", none, ["train", "model=svc", "model.C=[1,2"], 2),
    ("train-broken-conf", write("conf/config.yaml", "defaults: [\n"), ["train"], 2),
    ("train-broken-group-yaml", write(FOREST, "a: [\n"), ["train", "model=random_forest"], 2),
    ("train-broken-dvc-yaml", BROKEN_DVC_YAML, ["train"], 2),
    ("train-dvc-yaml-a-list", write("dvc.yaml", "- a\n- b\n"), ["train"], 2),
    ("train-broken-dvc-config", write(".dvc/config", "[core\n"), ["train"], 3),
    ("evaluate-unknown-rev", none, ["evaluate", "--rev", "nosuchrev"], 2),
    ("exp-apply-unknown", none, ["exp", "apply", "nosuch-exp"], 2),
    ("report-unknown-rev", none, ["report", "--rev", "nosuchrev"], 2),
    # data
    ("data-add-missing", none, ["data", "add", "nope.csv"], 2),
    ("data-add-outside", none, ["data", "add", "/etc/hostname"], 2),
    ("data-status-broken-config", write(".dvc/config", "[core\n"), ["data", "status"], 3),
    ("data-push-unknown-remote", none, ["data", "push", "--remote", "nosuch"], 3),
    ("data-schema-huge-line", write("data/w.csv", HUGE_LINE), ["data", "schema", "data/w.csv"], 2),
    ("data-schema-missing", none, ["data", "schema", "nope.csv"], 2),
    ("data-schema-empty-csv", write("data/e.csv", ""), ["data", "schema", "data/e.csv"], 2),
    ("data-schema-binary", write("data/b.csv", BINARY), ["data", "schema", "data/b.csv"], 2),
    ("data-schema-latin1", write("data/l.csv", LATIN1), ["data", "schema", "data/l.csv"], 2),
    ("data-schema-odd-name-empty", write(ODD, ""), ["data", "schema", ODD], 2),
    ("data-schema-not-a-table", write("data/x.txt", "hi\n"), ["data", "schema", "data/x.txt"], 2),
    ("data-validate-broken-schema", write(SCHEMA, "columns: [\n"), ["data", "validate", RAW], 2),
    ("data-validate-schema-a-list", write(SCHEMA, "- 1\n"), ["data", "validate", RAW], 2),
    ("data-validate-missing-schema", none, ["data", "validate", RAW, "--schema", "no.yaml"], 2),
    ("data-validate-empty-csv", write(RAW, ""), ["data", "validate", RAW], 2),
    ("data-profile-binary", write("data/b.csv", BINARY), ["data", "profile", "data/b.csv"], 2),
    # promote / rollback / reproduce / registry
    ("promote-unknown-stage", none, ["promote", "--to", "qa"], 2),
    ("promote-bad-version", none, ["promote", "--to", "staging", "--version", "1.0"], 2),
    ("promote-broken-dvc-yaml", BROKEN_DVC_YAML, TO_STAGING, 2),
    ("promote-empty-dvc-lock", write("dvc.lock", ""), TO_STAGING, 2),
    ("promote-broken-params", write("params.yaml", "a: [\n"), TO_STAGING, 2),
    ("promote-artifacts-list", artifacts_as_list, TO_STAGING, 2),
    ("rollback-unknown-model", none, ["rollback", "nosuch"], 2),
    ("reproduce-unknown", none, ["reproduce", "nosuch@v1.0.0"], 2),
    ("registry-history-unknown", none, ["registry", "history", "nosuch"], 2),
    ("registry-lineage-garbage", none, ["registry", "lineage", "%%%"], 2),
    ("registry-list-broken-dvc-yaml", BROKEN_DVC_YAML, ["registry", "list"], 2),
    ("registry-list-artifacts-list", artifacts_as_list, ["registry", "list"], 2),
    # serve / build / monitor / retrain
    ("serve-broken-dvc-yaml", BROKEN_DVC_YAML, ["serve"], 2),
    ("build-unknown-version", none, ["build", "nosuch@v1.0.0", "--base", "nope.tar"], 2),
    ("monitor-missing-current", none, [*DRIFT, "nope.csv"], 2),
    ("monitor-negative-threshold", none, [*DRIFT, RAW, "--threshold", "-1"], 2),
    ("monitor-report-is-a-file", none, [*DRIFT, RAW, "--report", RAW], 2),
    ("monitor-binary-current", write("data/b.csv", BINARY), [*DRIFT, "data/b.csv"], 2),
    ("retrain-missing-data", none, ["retrain", "--data", "nope.csv"], 2),
    ("retrain-empty-data", write("data/e.csv", ""), ["retrain", "--data", "data/e.csv"], 2),
]  # fmt: skip


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int) -> None:
    """The exit code, no traceback, and the error in one line with its hint right after."""
    assert_one_line_error(proc, code)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    at = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    assert at + 1 < len(lines) and lines[at + 1].startswith("hint: "), proc.stderr


def snapshot(project: Path) -> tuple[str, str, str]:
    """What must not change: the tracked files' bytes, git's view of the tree, the tags."""
    digest = hashlib.sha256()
    for name in sorted(git("ls-files", "-z", cwd=project).stdout.split("\0")):
        path = project / name
        if name and path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    status = git("status", "--porcelain", "--untracked-files=no", cwd=project).stdout
    tags = git("tag", "--list", cwd=project).stdout
    return digest.hexdigest(), status, tags


@pytest.fixture(scope="module")
def corpus_template(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(trained_template, tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize(
    ("setup", "args", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_and_changes_nothing(
    corpus_template: Path,
    tmp_path: Path,
    setup: Callable[[Path], None],
    args: list[str],
    code: int,
) -> None:
    project = copy_project(corpus_template, tmp_path)
    setup(project)
    before = snapshot(project)
    proc = run([sys.executable, "-m", "mlopsctl", *args], project)
    assert_clean_error(proc, code)
    assert snapshot(project) == before


def _read_only(project: Path) -> list[str] | None:
    """A prefix that runs a command with `project` mounted read-only (a user namespace of
    its own, so it works as root too, where file modes do not stop anything)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && shift && exec "$@"'
    probe = subprocess.run(
        [*prefix, "sh", "-c", script, str(project), "true"], capture_output=True, check=False
    )
    return [*prefix, "sh", "-c", script, str(project), "_"] if probe.returncode == 0 else None


def _full_disk(folder: Path) -> list[str] | None:
    """A prefix that runs a command with a full 64 KiB file system mounted over `folder`."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    script = (
        'mkdir -p "$0" && mount -t tmpfs -o size=64k tmpfs "$0" && '
        '(dd if=/dev/zero of="$0/.fill" bs=4k count=64 2>/dev/null; true) && shift && exec "$@"'
    )
    probe = subprocess.run(
        [*prefix, "sh", "-c", script, str(folder), "true"], capture_output=True, check=False
    )
    return [*prefix, "sh", "-c", script, str(folder), "_"] if probe.returncode == 0 else None


FULL_DISK = [  # (the folder that is full, the command)
    ("data/schemas", ["data", "schema", RAW, "--name", "again"]),
    (".dvc/cache", ["data", "add", "data/more.csv"]),
    ("reports/html", ["report", "--output", "reports/html"]),
    ("data/reference", ["data", "profile", RAW, "--output", "data/reference/p.json", "--force"]),
]


@pytest.mark.parametrize(("full", "args"), FULL_DISK, ids=[a[0] + "-" + a[1] for _, a in FULL_DISK])
def test_a_full_disk_is_an_environment_error(
    corpus_template: Path, tmp_path: Path, full: str, args: list[str]
) -> None:
    project = copy_project(corpus_template, tmp_path)
    shutil.copy(project / RAW, project / "data" / "more.csv")
    prefix = _full_disk(project / full)
    if prefix is None:
        pytest.skip("cannot mount a small file system here (unshare --mount)")
    before = snapshot(project)
    proc = run([*prefix, sys.executable, "-m", "mlopsctl", *args], project)
    assert_clean_error(proc, 3)
    assert "no space left" in proc.stderr.lower()
    assert snapshot(project) == before


READ_ONLY = [
    (["train", "model.C=0.5"], 3),
    (["data", "add", RAW], 3),
    (["data", "schema", RAW, "--force"], 3),
    (["promote", "--to", "staging"], 3),
    (["report"], 3),
    (["check", "config-composes", "--fix"], 3),
]


@pytest.mark.parametrize(("args", "code"), READ_ONLY, ids=[" ".join(a) for a, _ in READ_ONLY])
def test_a_read_only_project_is_an_environment_error(
    corpus_template: Path, tmp_path: Path, args: list[str], code: int
) -> None:
    project = copy_project(corpus_template, tmp_path)
    if args[0] == "check":
        # conf/ changed, params.yaml as committed: --fix has params.yaml to write (a params.yaml
        # changed since HEAD would be kept as an applied experiment's, and nothing written)
        config = project / "conf" / "config.yaml"
        config.write_text(config.read_text().replace("seed: 42", "seed: 43"))
    prefix = _read_only(project)
    if prefix is None:
        pytest.skip("cannot mount a folder read-only here (unshare --mount)")
    before = snapshot(project)
    proc = run([*prefix, sys.executable, "-m", "mlopsctl", *args], project)
    assert_clean_error(proc, code)
    assert snapshot(project) == before
