"""The project's own code that a model needs: the modules of `src/` its pickle names, and
the project modules those import, copied as source beside the model (the image's app layer,
`serve`'s path). Read from the model's commit when it has one, so the code matches the
model; never resolved from a package index."""

from __future__ import annotations

import ast
import io
import pickle
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from mlopsctl.core import git as vcs
from mlopsctl.core.files import write_atomic
from mlopsctl.core.model.source import ModelSource

SOURCE_DIR = "src"


@dataclass(frozen=True)
class PickleImports:
    modules: set[str]  # dotted module names the pickle's globals come from
    dataframe: bool  # an estimator in it was fitted on a DataFrame


@dataclass(frozen=True)
class ProjectCode:
    """Modules copied as source into `folder` (a sys.path entry)."""

    folder: Path
    files: list[str] = field(default_factory=list)  # relative to folder, sorted
    packages: set[str] = field(default_factory=set)  # every top-level name under src/
    imports: set[str] = field(default_factory=set)  # other top-level modules they import


class _Stub:
    """Stands in for every class a pickle names, so it can be read without running code."""

    def __new__(cls, *args: object, **kwargs: object) -> _Stub:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Stub:
        return _Stub()

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, value: object) -> None:
        pass

    def extend(self, values: object) -> None:
        pass


def pickle_imports(pkl: bytes) -> PickleImports:
    """What loading this pickle imports, read without importing or running anything."""
    modules: set[str] = set()
    dataframe = False

    class Recorded(_Stub):
        def __setstate__(self, state: object) -> None:
            nonlocal dataframe
            if isinstance(state, dict) and "feature_names_in_" in state:
                dataframe = True

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> type:
            modules.add(module)
            return Recorded

    try:
        Recorder(io.BytesIO(pkl)).load()
    except Exception as exc:  # whatever garbage raises: it is not a model mlopsctl can ship
        from mlopsctl.errors import BadInput

        raise BadInput(
            f"model.pkl is not a readable pickle ({type(exc).__name__}: {exc})",
            "restore the model (`dvc checkout models/model.pkl`) or retrain (`mlopsctl train`)",
        ) from exc
    return PickleImports(modules, dataframe)


def _source_files(source: ModelSource) -> dict[str, Callable[[], bytes]]:
    """The .py files under src/ (relative to src/), at the model's commit or as they are."""
    if source.project is None:
        # a model folder inside a project (`serve models`): that project's src/ as it is
        parent = Path(source.folder).parent
        if not (parent / "dvc.yaml").is_file():
            return {}
        return _source_files(ModelSource(source.name, None, parent, None, source.folder))
    if source.commit is None:
        root = source.project / SOURCE_DIR
        if not root.is_dir():
            return {}
        return {
            p.relative_to(root).as_posix(): p.read_bytes
            for p in sorted(root.rglob("*.py"))
            if p.is_file() and "__pycache__" not in p.parts
        }
    project, commit = source.project, source.commit
    listed = vcs.output(project, "ls-tree", "-r", "--name-only", commit, "--", f"{SOURCE_DIR}/")
    found: dict[str, Callable[[], bytes]] = {}
    for name in listed.splitlines():
        if name.endswith(".py"):
            found[name.removeprefix(f"{SOURCE_DIR}/")] = _reader(project, commit, name)
    return found


def _reader(project: Path, commit: str, name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        text = vcs.show_file(project, commit, name)
        return (text or "").encode("utf-8")

    return read


def _module_file(module: str, files: Collection[str]) -> str | None:
    path = module.replace(".", "/")
    for candidate in (f"{path}.py", f"{path}/__init__.py"):
        if candidate in files:
            return candidate
    return None


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names a module's import statements may load (relative ones resolved)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                keep = len(parts) - (node.level - 1)
                if keep <= 0:
                    continue
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def stage_project_code(source: ModelSource, modules: set[str], dest: Path) -> ProjectCode:
    """Copy into `dest` the project modules among `modules` (dotted names), every project
    module they import, and their packages' __init__.py files."""
    files = _source_files(source)
    packages = {name.split("/")[0].removesuffix(".py") for name in files} - {"__init__"}
    todo = sorted(m for m in modules if m.split(".")[0] in packages)
    done: set[str] = set()
    copied: dict[str, bytes] = {}
    imports: set[str] = set()
    while todo:
        module = todo.pop()
        if module in done:
            continue
        done.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        found = _module_file(module, files)
        if found is None:
            continue  # `from pkg import name` where name is not a module, or not there
        text = files[found]()
        copied[found] = text
        try:
            tree = ast.parse(text, filename=found)
        except SyntaxError:
            continue  # the test load says what is wrong with it
        for name in _imported(tree, module, found.endswith("__init__.py")):
            top = name.split(".")[0]
            if top in packages:
                todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                imports.add(top)
    for name, text in sorted(copied.items()):
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    return ProjectCode(dest, sorted(copied), packages, imports)


@dataclass(frozen=True)
class LoadFailure:
    error: str
    missing: str | None  # the module that could not be imported, if that was it


LOAD_CHECK = """\
import json, pickle, sys
try:
    with open(sys.argv[1], "rb") as fh:
        pickle.load(fh)
except ModuleNotFoundError as exc:
    print(json.dumps({"missing": exc.name, "error": str(exc)}))
    sys.exit(1)
except Exception as exc:
    print(json.dumps({"missing": None, "error": f"{type(exc).__name__}: {exc}"}))
    sys.exit(1)
"""


def try_load(pkl: Path, path: list[Path]) -> LoadFailure | None:
    """Unpickle `pkl` in a new Python that sees the standard library and `path` only
    (no site-packages, no PYTHON* variables from here): None when it loads."""
    import json
    import os
    import tempfile

    from mlopsctl.core import proc

    with tempfile.TemporaryDirectory(prefix="mlopsctl-load-") as tmp:
        env = {
            "PYTHONPATH": os.pathsep.join(str(p) for p in path),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = proc.run([sys.executable, "-S", "-c", LOAD_CHECK, str(pkl)], cwd=Path(tmp), env=env)
    if done.ok:
        return None
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
        return LoadFailure(str(found["error"]), found.get("missing"))
    except (ValueError, IndexError, KeyError, TypeError):
        return LoadFailure(done.tail(), None)


def load_problem_hint(failure: LoadFailure, code: ProjectCode | None) -> str:
    """What to do about a model that does not load, for the error's hint."""
    if "__main__" in failure.error or failure.missing == "__main__":
        return (
            "the model uses a function or class defined in the script that trained it: move it "
            f"into a module of {SOURCE_DIR}/<package>/ and import it from there, then retrain"
        )
    if failure.missing:
        top = failure.missing.split(".")[0]
        if code is not None and top in code.packages:
            return (
                f"{failure.missing} is not in {SOURCE_DIR}/ at the model's commit: commit the "
                "module (or retrain with the code as it is)"
            )
        return (
            f"install the package that provides {top} here and list it in requirements.txt; "
            f"if it is the project's own code, put it under {SOURCE_DIR}/<package>/"
        )
    return "check that model.pkl unpickles with the packages in requirements.txt"


def project_distribution(root: Path) -> str | None:
    """The project's own distribution name ([project] name in its pyproject.toml)."""
    import tomllib

    try:
        loaded = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    name = (loaded.get("project") or {}).get("name")
    return str(name) if name else None


def own_distributions(source: ModelSource, code: ProjectCode) -> set[str]:
    """Distributions that are the project itself: its [project] name, and whatever installed
    distribution provides one of its packages (`pip install -e .`)."""
    from importlib import metadata

    found: set[str] = set()
    if source.project is not None:
        name = project_distribution(source.project)
        if name:
            found.add(name)
    provided = metadata.packages_distributions()
    for package in code.packages:
        found.update(provided.get(package) or [])
    return found
