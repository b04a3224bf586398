"""The errors mlopsctl expects, each carrying its exit code and a hint for the user.

Exit codes (documented in docs/cli.md):
  1  a check failed (a quality gate, a validation, drift)
  2  bad usage or input
  3  a missing or broken environment (no git, no identity, no dvc remote, no builder)
 70  an internal error (a bug): rerun with --debug and report it
130  interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class MlopsctlError(Exception):
    """An expected failure: one line saying what is wrong, one saying what to do."""

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CheckFailed(MlopsctlError):
    """A gate, validation or drift check did not pass."""

    exit_code = EXIT_CHECK_FAILED


class BadInput(MlopsctlError):
    """The user asked for something that cannot be done as asked."""

    exit_code = EXIT_BAD_INPUT


class EnvironmentProblem(MlopsctlError):
    """Something mlopsctl needs from the machine is missing or broken."""

    exit_code = EXIT_ENVIRONMENT
