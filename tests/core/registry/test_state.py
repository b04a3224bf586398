"""core.registry: the tag grammar agrees with GTO's, tags are written all-or-nothing in
distinct seconds, and the stage holder is the one GTO would name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlopsctl.core.registry import state as states
from mlopsctl.core.registry import tags as registry
from mlopsctl.core.registry.promote import previous_holder
from mlopsctl.errors import BadInput
from tests.conftest import git, run

NAMES = [
    "demo@v1.2.0",
    "demo@v1.2.0-rc.1+build.5",
    "demo@v1.2.0!",
    "demo#production#3",
    "demo#staging!#4",
    "demo@deprecated",
    "path/to=model@v0.0.1",
    "my-model_2#prod#12",
    "demo@1.2.0",
    "demo#",
    "-bad@v1.0.0",
    "demo@v01.0.0",
    "v1.0.0",
    "demo#prod#x",
]


@pytest.mark.parametrize("name", NAMES)
def test_tag_grammar_is_gtos(name: str) -> None:
    from gto.tag import parse_name

    theirs = parse_name(name, raise_on_fail=False)
    ours = registry.parse_tag_name(name)
    assert (ours is None) == (not theirs), name
    if ours is not None:
        assert ours["artifact"] == theirs["name"]
        assert ours["action"] == theirs["action"].value
        assert ours["version"] == theirs.get("version")
        assert ours["stage"] == theirs.get("stage")
        assert ours["counter"] == theirs.get("counter")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    git("init", "--quiet", str(tmp_path), cwd=tmp_path)
    git("commit", "--quiet", "--allow-empty", "-m", "one", cwd=tmp_path)
    return tmp_path, git("rev-parse", "HEAD", cwd=tmp_path).stdout.strip()


def test_create_tags_writes_annotated_tags_in_distinct_seconds(repo: tuple[Path, str]) -> None:
    root, commit = repo
    made = registry.create_tags(
        root,
        "m",
        [
            registry.NewTag("m@v0.0.1", commit, 'Register\n\n{"a": 1}'),
            registry.NewTag("m#staging#1", commit, "Assign"),
        ],
    )
    assert made == ["m@v0.0.1", "m#staging#1"]
    made += registry.create_tags(root, "m", [registry.NewTag("m#prod#2", commit, "Assign")])
    read = registry.read_tags(root, artifact="m")
    assert [t.tag for t in read] == made
    assert len({t.time for t in read}) == 3
    assert all(git("cat-file", "-t", t, cwd=root).stdout.strip() == "tag" for t in made)
    assert json.loads(read[0].message[read[0].message.index("{") :]) == {"a": 1}
    assert read[0].author == "mlopsctl tests"


def test_a_clash_creates_no_tag_at_all(repo: tuple[Path, str]) -> None:
    root, commit = repo
    git("tag", "m#staging#1", cwd=root)
    with pytest.raises(BadInput, match="already exists"):
        registry.create_tags(
            root,
            "m",
            [
                registry.NewTag("m@v0.0.1", commit, "Register"),
                registry.NewTag("m#staging#1", commit, "Assign"),
            ],
        )
    assert git("tag", cwd=root).stdout.split() == ["m#staging#1"]


def tag_at(root: Path, name: str, target: str, second: int, message: str = "x") -> None:
    """An annotated tag made by plain git at a fixed time, as any GTO-format tool might."""
    env = dict(os.environ, GIT_COMMITTER_DATE=f"{1_700_000_000 + second} +0000")
    run(["git", "tag", "-a", "-m", message, name, target], root, env=env, check=True)


def test_stage_holders_agree_with_gto_and_rollback_undoes_promotions(tmp_path: Path) -> None:
    from gto.api import show

    def gto_holders() -> dict[str, str]:
        return {k: v for k, v in show(str(tmp_path))["m"]["stage"].items() if v}

    git("init", "--quiet", str(tmp_path), cwd=tmp_path)
    commits = {}
    for version in ("v0.0.1", "v0.0.2", "v0.0.3"):
        git("commit", "--quiet", "--allow-empty", "-m", version, cwd=tmp_path)
        commits[version] = git("rev-parse", "HEAD", cwd=tmp_path).stdout.strip()
    steps = [
        ("m@v0.0.1", "v0.0.1"),
        ("m@v0.0.2", "v0.0.2"),
        ("m@v0.0.3", "v0.0.3"),
        ("m#prod#1", "v0.0.1"),
        ("m#prod#2", "v0.0.2"),
        ("m#prod#3", "v0.0.3"),
        ("m#staging#4", "v0.0.1"),
    ]
    for second, (name, version) in enumerate(steps):
        tag_at(tmp_path, name, commits[version], second)
    state = states.registry_state(tmp_path)["m"]
    assert state.latest == "v0.0.3"
    assert state.stages == gto_holders() == {"prod": "v0.0.3", "staging": "v0.0.1"}
    assert previous_holder(state, "prod") == "v0.0.2"

    # what `mlopsctl rollback` writes: v0.0.2 holds prod again
    rollback = 'Roll back\n\n{"action": "rollback"}'
    tag_at(tmp_path, "m#prod#5", commits["v0.0.2"], 100, rollback)
    state = states.model_state("m", registry.read_tags(tmp_path, artifact="m"))
    assert state.stages["prod"] == gto_holders()["prod"] == "v0.0.2"
    # a second rollback undoes the promotion before, rather than toggling back to v0.0.3
    assert previous_holder(state, "prod") == "v0.0.1"

    # an unassignment and a deregistration, as `gto unassign` / `gto deregister` write them
    for second, name, version in [(200, "m#prod!#6", "v0.0.2"), (201, "m@v0.0.3!", "v0.0.3")]:
        tag_at(tmp_path, name, commits[version], second)
        state = states.registry_state(tmp_path)["m"]
        assert state.stages == gto_holders(), name
    assert state.stages["prod"] == "v0.0.1" and "v0.0.3" not in state.versions
