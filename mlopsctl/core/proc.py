"""The one way mlopsctl runs another program (dvc, pip, podman, buildah, skopeo, docker,
pre-commit, python): output captured, and the tail of it that an error quotes.

git goes through GitPython in `mlopsctl.core.git`; a pipeline run that streams its output
line by line is `mlopsctl.core.pipeline.run.run_stages`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlopsctl.errors import EnvironmentProblem


@dataclass(frozen=True)
class Completed:
    """A finished program: its exit code and what it printed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 1) -> str:
        """The last non-empty lines it printed (stderr first), joined by ' / ', for an error
        message; `exit code N` when it printed nothing."""
        return (
            output_tail(self.stderr, lines)
            or output_tail(self.stdout, lines)
            or (f"exit code {self.returncode}")
        )


# the usage footers that tools (docker, podman) end their errors with: not the reason
_FOOTERS = ("Run '", "See '", "Usage:")


def output_tail(text: str, lines: int = 1) -> str:
    """The last `lines` lines of `text` that say something (not blank, not a usage footer),
    stripped, joined by ' / '."""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in kept if not line.startswith(_FOOTERS)] or kept
    return " / ".join(said[-lines:]) if lines > 0 else ""


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = None,
) -> Completed:
    """Run `cmd` to the end with no standard input (unless `input`), output captured as text.

    A program that is not installed is an EnvironmentProblem naming it; a non-zero exit is
    the caller's to judge (`Completed.ok`, `Completed.tail`)."""
    args = tuple(str(part) for part in cmd)
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem(
            f"`{args[0]}` is not installed or not on PATH", f"install {Path(args[0]).name}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentProblem(
            f"`{' '.join(args[:3])}` did not finish in {timeout:.0f} s",
            "check that it is not waiting for something (a lock, the network), then retry",
        ) from exc
    return Completed(args, proc.returncode, proc.stdout or "", proc.stderr or "")


def which(tool: str) -> str | None:
    return shutil.which(tool)
