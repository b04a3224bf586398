"""`mlopsctl build --push` and `mlopsctl push` against a real registry on loopback: the
registry's digest is the lock's, a second push sends no blob, refusals are exit 3 with the
registry's reason and leave the lock as it was."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_init import assert_one_line_error
from tests.conftest import mlopsctl
from tests.image.registry import Registry, auth_file, registry, skopeo_digest, start_registry
from tests.serving.http import free_port

__all__ = ["registry"]
pytestmark = [pytest.mark.image, pytest.mark.slow]


@pytest.fixture(scope="module")
def built(
    trained_template: Path,
    small_base: Path,
    build_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The trained template's image tar (lock beside it), built once."""
    out = tmp_path_factory.mktemp("built") / "image.tar"
    args = ("build", "--base", str(small_base), "-o", str(out))
    mlopsctl(*args, cwd=trained_template, env=build_env, check=True)
    return out


def private_copy(tar: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("image.tar", "image.lock.json"):
        shutil.copyfile(tar.with_name(name), folder / name)
    return folder / "image.tar"


def lock_of(tar: Path) -> dict:
    return json.loads(tar.with_name("image.lock.json").read_text())


def test_build_push_then_a_second_push_sends_no_blob(
    trained_project: Path, small_base: Path, build_env: dict[str, str], registry: Registry
) -> None:
    repo = f"{registry.host}/demo/model"
    proc = mlopsctl(
        "build", "--json", "--base", str(small_base), "--push", repo, "--tls-verify=false",
        cwd=trained_project, env=build_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    lock = json.loads((trained_project / "dist" / "image.lock.json").read_text())
    version = lock["image"]["tag"].rpartition(":")[2]  # the tag defaults to the build's
    assert info["pushed"] == f"{repo}:{version}"
    assert skopeo_digest(f"{repo}:{version}") == lock["image"]["digest"] == info["digest"]
    assert lock["pushed"] == [
        {"ref": f"{repo}:{version}", "repository": repo, "digest": lock["image"]["digest"]}
    ]
    uploads = registry.blob_uploads()
    assert uploads == len(lock["image"]["layers"]) + 1  # the layers and the config

    proc = mlopsctl(
        "push", "dist/image.tar", f"{repo}:again", "--tls-verify=false", "--json",
        cwd=trained_project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["sent"] == [] and len(again["skipped"]) == uploads
    assert registry.blob_uploads() == uploads  # the registry saw no new upload
    assert skopeo_digest(f"{repo}:again") == lock["image"]["digest"]
    refs = [
        p["ref"]
        for p in json.loads((trained_project / "dist/image.lock.json").read_text())["pushed"]
    ]
    assert refs == [f"{repo}:{version}", f"{repo}:again"]


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    yield from start_registry(tmp_path / "auth-registry", auth=("alice", "s3cret"))


def test_a_refusing_registry_is_exit_3_with_its_reason_and_no_lock_change(
    built: Path, registry: Registry, auth_registry: Registry, tmp_path: Path
) -> None:
    tar = private_copy(built, tmp_path / "dist")
    before = tar.with_name("image.lock.json").read_bytes()

    def refused(ref: str, *flags: str, env: dict[str, str] | None = None) -> str:
        proc = mlopsctl("push", str(tar), ref, *flags, cwd=tmp_path, env=env)
        assert_one_line_error(proc, 3)
        assert tar.with_name("image.lock.json").read_bytes() == before
        return proc.stderr

    assert "unreachable" in refused(f"127.0.0.1:{free_port()}/demo/model", "--tls-verify=false")
    # TLS is the default: a plain-HTTP registry fails the handshake
    assert "TLS" in refused(f"{registry.host}/demo/model")
    # htpasswd: no credentials, then wrong ones, then the auth file podman login writes
    assert "401" in refused(f"{auth_registry.host}/demo/model", "--tls-verify=false")
    import os

    wrong = auth_file(tmp_path / "wrong.json", auth_registry.host, "alice", "nope")
    stderr = refused(
        f"{auth_registry.host}/demo/model",
        "--tls-verify=false",
        env={**os.environ, "REGISTRY_AUTH_FILE": str(wrong)},
    )
    assert "401" in stderr and "podman login" in stderr
    right = auth_file(tmp_path / "auth.json", auth_registry.host, "alice", "s3cret")
    proc = mlopsctl(
        "push", str(tar), f"{auth_registry.host}/demo/model:v1", "--tls-verify=false",
        cwd=tmp_path, env={**os.environ, "REGISTRY_AUTH_FILE": str(right)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert lock_of(tar)["pushed"][0]["ref"] == f"{auth_registry.host}/demo/model:v1"


def test_docker_credential_helpers_log_in(
    built: Path, auth_registry: Registry, tmp_path: Path
) -> None:
    """docker's config.json names a credential helper per registry (`credHelpers`) or one
    for all (`credsStore`); the push runs `docker-credential-NAME get` as docker does."""
    import os
    import sys

    tar = private_copy(built, tmp_path / "dist")
    tools, docker = tmp_path / "bin", tmp_path / "docker"
    tools.mkdir()
    docker.mkdir()
    helper = tools / "docker-credential-vault"  # the docker-credential-helpers protocol
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "assert sys.argv[1:] == ['get']\n"
        "server = sys.stdin.read().strip()\n"
        f"if server != {auth_registry.host!r}:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps({'ServerURL': server, 'Username': 'alice', 'Secret': 's3cret'}))\n"
    )
    helper.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_CONFIG": str(docker),
        "XDG_CONFIG_HOME": str(tmp_path / "no-containers-auth"),
    }
    env.pop("REGISTRY_AUTH_FILE", None)
    for n, config in enumerate(
        [{"credHelpers": {auth_registry.host: "vault"}}, {"auths": {}, "credsStore": "vault"}]
    ):
        (docker / "config.json").write_text(json.dumps(config))
        ref = f"{auth_registry.host}/demo/model:h{n}"
        proc = mlopsctl("push", str(tar), ref, "--tls-verify=false", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert skopeo_login_digest(ref) == lock_of(tar)["image"]["digest"]
    # a helper that has nothing for the registry: anonymous, which the registry refuses
    (docker / "config.json").write_text(json.dumps({"credHelpers": {"other.io": "vault"}}))
    proc = mlopsctl("push", str(tar), f"{auth_registry.host}/demo/model:x", "--tls-verify=false",
                    cwd=tmp_path, env=env)  # fmt: skip
    assert_one_line_error(proc, 3)
    assert "401" in proc.stderr


def skopeo_login_digest(ref: str) -> str:
    import subprocess

    proc = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--creds", "alice:s3cret", f"docker://{ref}"],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["Digest"])


def test_bad_input_is_exit_2(built: Path, registry: Registry, tmp_path: Path) -> None:
    tar = private_copy(built, tmp_path / "dist")
    for args, words in [
        ([str(tmp_path / "none.tar"), f"{registry.host}/x"], "no image tar"),
        ([str(tar), "Not A Ref!"], "not an image reference"),
        ([str(tar), f"{registry.host}/x@sha256:{'0' * 64}"], "not a digest"),
        ([str(tar), f"{registry.host}/x", "--tls-verify=maybe"], "true or false"),
    ]:
        proc = mlopsctl("push", *args, cwd=tmp_path)
        assert_one_line_error(proc, 2)
        assert words in proc.stderr
