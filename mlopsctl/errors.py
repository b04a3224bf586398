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


def _names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def _one_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _yaml_where(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or ""
    if mark is None:
        return _one_line(exc)
    return f"{mark.name}, line {mark.line + 1}: {problem}".strip(": ")


def expected_error(exc: BaseException) -> MlopsctlError | None:
    """The expected condition behind an exception that escaped a command, if it is one.

    The one place conditions of the user's machine or files (a read-only project, a full
    disk, a corrupt dvc.yaml, dvc.lock, params.yaml or .dvc/config) become errors with an
    exit code and a hint, however deep in DVC, PyYAML or the OS they were raised. The
    exception's cause chain is searched, so a library that wraps one still maps."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _expected_one(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _expected_one(exc: BaseException) -> MlopsctlError | None:
    import errno as codes

    names = _names(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename or ""
        if exc.errno in (codes.ENOSPC, codes.EDQUOT):
            return EnvironmentProblem(
                f"no space left on the device{f' writing {where}' if where else ''}",
                "free some disk space (or point TMPDIR elsewhere) and run the command again; "
                "nothing half-written was kept",
            )
        if exc.errno in (codes.EACCES, codes.EPERM, codes.EROFS):
            what = "read-only file system" if exc.errno == codes.EROFS else "permission denied"
            return EnvironmentProblem(
                f"{what}{f': {where}' if where else ''}",
                "run the command where you may write (check the folder's owner and mode)",
            )
    if "dvc.utils.strictyaml.YAMLSyntaxError" in names:
        path = str(getattr(exc, "relpath", "") or "a DVC file").removeprefix("./")
        mark = getattr(getattr(exc, "exc", None), "problem_mark", None)
        return BadInput(
            f"{path} is not valid YAML" + (f", line {mark.line + 1}" if mark else ""),
            f"fix it, or restore the committed one with `git checkout -- {path}`",
        )
    if "dvc.utils.strictyaml.YAMLValidationError" in names:
        path = str(getattr(exc, "path", "") or "a DVC file").removeprefix("./")
        detail = _one_line(getattr(exc, "exc", ""))
        return BadInput(
            f"{path} is not a valid DVC file" + (f": {detail}" if detail else ""),
            f"fix it, or restore the committed one with `git checkout -- {path}`",
        )
    if "dvc.exceptions.NotDvcRepoError" in names:
        return EnvironmentProblem(
            "this is not a DVC repository: the command reads what DVC records (dvc.lock, "
            "metrics, the cache)",
            "run it inside a DVC project (`dvc init` makes one)",
        )
    if "dvc.config.ConfigError" in names:
        return EnvironmentProblem(
            f"DVC's configuration is broken: {_one_line(exc)}",
            "fix .dvc/config (or .dvc/config.local), e.g. with `git checkout -- .dvc/config`",
        )
    if "yaml.error.YAMLError" in names:
        return BadInput(
            f"not valid YAML: {_yaml_where(exc)}",
            "fix the file's YAML syntax (or restore it with `git checkout -- FILE`)",
        )
    if isinstance(exc, UnicodeDecodeError):
        return BadInput(
            f"a file is not UTF-8 text: {_one_line(exc)}",
            "save it as UTF-8 (CSV tables and YAML files are read as UTF-8)",
        )
    return None
