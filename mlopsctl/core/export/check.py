"""`mlopsctl export check`: validate Kubernetes documents offline, as far as can be done
without a cluster.

Every YAML document under the given paths is checked:
- built-in kinds against the strict schemas of the `kubernetes-validate` package;
- custom resources against JSON Schema files laid out as kubeconform expects
  (`{location}/{group}/{kind}_{version}.json`, all lowercase);
- a kind with neither is a problem, never a warning;
- then the rules no schema can see (RULES): every image pinned by digest and never
  `:latest`, no inline secret, no privileged container, and Tekton's references
  (tekton_refs.py) resolve.

The API: `check(paths, schema_locations) -> Report` (and `check_paths` for the problems
alone). A rule is a function `(document, bundle) -> Iterable[Problem]`; `register_rule` adds
one (other concerns add theirs for their kinds: InferenceService, Deployment, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from mlopsctl.errors import BadInput

YAML_SUFFIXES = (".yaml", ".yml")
# files of tools, not objects a cluster stores: nothing to validate against a schema
NOT_CLUSTER_OBJECTS = {
    "kustomize.config.k8s.io": "kustomize's own file",
    "config.kubernetes.io": "a kustomize/kpt function config",
}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I
)
# values that are credentials whatever the key they sit under
SECRET_VALUES = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), "a GitLab token"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@$]+:[^/\s@$]+@"), "a URL with a password"),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one document: where (file, document, field path) and what."""

    file: str
    document: int  # the document's index in its file, from 0
    name: str  # Kind/metadata.name, or "?" when the document has none
    field: str  # dotted path with [i] for list items, e.g. spec.tasks[1].taskRef.name
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.file} #{self.document} {self.name}: {where}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "document": self.document,
            "name": self.name,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class Document:
    file: str
    index: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def name(self) -> str:
        meta = self.body.get("metadata")
        name = meta.get("name") or meta.get("generateName") if isinstance(meta, dict) else None
        return f"{self.kind or '?'}/{name or '?'}"

    def problem(self, path: str, message: str) -> Problem:
        return Problem(self.file, self.index, self.name, path, message)


@dataclass
class Bundle:
    """All documents checked together: cross-document references resolve inside it."""

    documents: list[Document]

    def find(self, kind: str, name: str, group: str = "tekton.dev") -> Document | None:
        for doc in self.documents:
            meta = doc.body.get("metadata") or {}
            if doc.kind == kind and doc.group == group and meta.get("name") == name:
                return doc
        return None


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    documents: int = 0
    skipped: list[str] = field(default_factory=list)  # "file #i: why"

    @property
    def ok(self) -> bool:
        return not self.problems


Rule = Callable[[Document, Bundle], Iterable[Problem]]
RULES: list[Rule] = []


def register_rule(rule: Rule) -> Rule:
    """Add a rule that runs on every document (it picks the kinds it knows)."""
    RULES.append(rule)
    return rule


def check_paths(
    paths: Sequence[Path], schema_locations: Sequence[Path] = (), kubernetes_version: str = ""
) -> list[Problem]:
    return check(paths, schema_locations, kubernetes_version).problems


def check(
    paths: Sequence[Path], schema_locations: Sequence[Path] = (), kubernetes_version: str = ""
) -> Report:
    """Check every YAML document in `paths` (files or folders, walked recursively)."""
    from mlopsctl.core.export import tekton_refs  # noqa: F401  (registers the Tekton rules)

    for location in schema_locations:
        if not location.is_dir():
            raise BadInput(
                f"schema location {location} is not a folder",
                "point --schema-location at a folder laid out as {group}/{kind}_{version}.json",
            )
    report = Report()
    files = _yaml_files(paths)
    if not files:
        raise BadInput(
            f"no YAML files in {', '.join(str(p) for p in paths)}",
            "give the folder `mlopsctl export` wrote, e.g. deploy/tekton",
        )
    documents: list[Document] = []
    for path in files:
        report.files.append(str(path))
        loaded, problems = _load(path)
        report.problems.extend(problems)
        documents.extend(loaded)
    version = kubernetes_version or _latest_kubernetes()
    checked: list[Document] = []
    for doc in documents:
        why_skipped = NOT_CLUSTER_OBJECTS.get(doc.group)
        if why_skipped:
            report.skipped.append(f"{doc.file} #{doc.index}: {why_skipped}")
            continue
        report.documents += 1
        checked.append(doc)
        report.problems.extend(_schema_problems(doc, schema_locations, version))
    bundle = Bundle(checked)
    for doc in checked:
        for rule in RULES:
            report.problems.extend(rule(doc, bundle))
    return report


def _yaml_files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*")) if p.suffix in YAML_SUFFIXES and p.is_file()
            )
        elif path.is_file():
            found.append(path)
        else:
            raise BadInput(f"{path} does not exist", "give files or folders of YAML documents")
    return found


def _load(path: Path) -> tuple[list[Document], list[Problem]]:
    import yaml

    try:
        raw = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [], [Problem(str(path), 0, "?", "", f"not valid YAML: {exc}".splitlines()[0])]
    docs: list[Document] = []
    problems: list[Problem] = []
    for index, body in enumerate(raw):
        if body is None:
            continue
        doc = Document(str(path), index, body if isinstance(body, dict) else {})
        if not isinstance(body, dict) or not doc.kind or not doc.api_version:
            problems.append(doc.problem("", "not a Kubernetes object (no apiVersion and kind)"))
            continue
        docs.append(doc)
    return docs, problems


# --- schemas -------------------------------------------------------------------------------


def _latest_kubernetes() -> str:
    from kubernetes_validate import latest_version

    return str(latest_version())


def _is_builtin_group(group: str) -> bool:
    """The core group, the dotless groups (apps, batch, policy, ...) and *.k8s.io."""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def _schema_problems(
    doc: Document, schema_locations: Sequence[Path], version: str
) -> list[Problem]:
    schema, registry, source = _find_schema(doc, schema_locations, version)
    if schema is None:
        where = (
            f"Kubernetes {version}'s built-in kinds"
            if _is_builtin_group(doc.group)
            else ", ".join(str(p) for p in schema_locations) or "no --schema-location given"
        )
        return [
            doc.problem(
                "kind", f"unknown kind {doc.kind} ({doc.api_version}): no schema in {where}"
            )
        ]
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema)
    kwargs: dict[str, Any] = {"registry": registry} if registry is not None else {}
    validator = validator_class(schema, **kwargs)
    problems = []
    for error in sorted(validator.iter_errors(doc.body), key=lambda e: list(map(str, e.path))):
        problems.append(doc.problem(_path(error.absolute_path), f"{error.message} ({source})"))
    return problems


def _find_schema(
    doc: Document, schema_locations: Sequence[Path], version: str
) -> tuple[dict[str, Any] | None, Any, str]:
    if _is_builtin_group(doc.group):
        return _builtin_schema(doc.kind, doc.api_version, version)
    name = f"{doc.kind}_{doc.version}.json".lower()
    for location in schema_locations:
        candidate = location / doc.group.lower() / name
        if candidate.is_file():
            return _json_file(candidate), None, f"schema {candidate}"
    return None, None, ""


@cache
def _json_file(path: Path) -> dict[str, Any]:
    import json

    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"schema {path} is not readable JSON: {exc}", None) from exc
    return loaded if isinstance(loaded, dict) else {}


@cache
def _builtin_schema(kind: str, api_version: str, version: str) -> tuple[Any, Any, str]:
    """kubernetes-validate's strict schema for a built-in kind, with its definitions."""
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    schema_version = [v for v in utils.all_versions() if _minor(v) <= _minor(version)]
    if not schema_version:
        return None, None, ""
    folder = f"v{schema_version[-1]}-local-strict"
    suffix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/{folder}/{kind.lower()}-{suffix}.json", version
        )
        definitions = utils.schema_contents(
            f"kubernetes-json-schema/{folder}/_definitions.json", version
        )
    except (FileNotFoundError, utils.VersionNotSupportedError):
        return None, None, ""
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return schema, registry, f"Kubernetes {_minor(schema_version[-1])} strict schema"


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split(".")[:2])


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- rules no schema can see ---------------------------------------------------------------


def walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every mapping entry and list item under `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, str(key), item
            yield from walk(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            here = f"{path}[{index}]"
            yield here, "", item
            yield from walk(item, here)


PARAM_REF = re.compile(r"^\$\(params\.([A-Za-z0-9_.-]+)\)$")


@register_rule
def images_pinned(doc: Document, bundle: Bundle) -> Iterator[Problem]:
    """Every `image:` is pinned by @sha256 and is never :latest. An image given as
    `$(params.X)` is judged by the default of the Task's own param X."""
    defaults = _param_defaults(doc)
    for path, key, value in walk(doc.body):
        if key != "image" or not isinstance(value, str):
            continue
        image, shown = value, value
        ref = PARAM_REF.match(value.strip())
        if ref:
            if ref.group(1) not in defaults:
                # a Pipeline passes it in: the Pipeline's value is checked where it is written
                continue
            image = defaults[ref.group(1)]
            shown = f"{value} (default {image})"
        problem = _image_problem(image)
        if problem:
            yield doc.problem(path, f"{shown}: {problem}")
    if doc.kind == "Task":
        return
    # Pipelines and PipelineRuns hand images to Tasks as params named *image*
    for path, _key, value in walk(doc.body):
        if isinstance(value, dict) and "image" in str(value.get("name", "")).lower():
            given = value.get("value", value.get("default"))
            if isinstance(given, str) and "$(" not in given:
                problem = _image_problem(given)
                if problem:
                    yield doc.problem(path, f"{value.get('name')}={given}: {problem}")


def _image_problem(image: str) -> str:
    if "$(" in image:
        return ""
    if re.search(r":latest(@|$)", image):
        return "uses :latest (pin the image by @sha256: digest)"
    if not DIGEST.search(image):
        return "not pinned by digest (write it as REPO@sha256:...)"
    return ""


def _param_defaults(doc: Document) -> dict[str, str]:
    if doc.kind != "Task":
        return {}
    params = (doc.body.get("spec") or {}).get("params") or []
    return {
        str(p["name"]): str(p["default"])
        for p in params
        if isinstance(p, dict) and "name" in p and isinstance(p.get("default"), str)
    }


@register_rule
def no_inline_secrets(doc: Document, bundle: Bundle) -> Iterator[Problem]:
    """Credentials live in the cluster, referenced by name: no Secret data in a document, no
    env value under a secret's name, no value that is a key, token or password URL."""
    if doc.kind == "Secret" and doc.group == "":
        for key in ("data", "stringData"):
            if doc.body.get(key):
                yield doc.problem(
                    key,
                    "a Secret with its data inline: create it in the cluster "
                    "(kubectl create secret) and reference it by name",
                )
    for path, key, value in walk(doc.body):
        if (
            key == ""
            and isinstance(value, dict)
            and isinstance(value.get("value"), str)
            and SECRET_NAME.search(str(value.get("name", "")))
            and value["value"].strip()
            and not value["value"].strip().startswith("$(")
        ):
            yield doc.problem(
                f"{path}.value",
                f"{value['name']} is given inline: use valueFrom.secretKeyRef to a Secret",
            )
        if isinstance(value, str):
            for pattern, what in SECRET_VALUES:
                if pattern.search(value):
                    yield doc.problem(path, f"looks like {what}: keep it in a Secret")
                    break


@register_rule
def not_privileged(doc: Document, bundle: Bundle) -> Iterator[Problem]:
    """Nothing asks for root or privilege (OpenShift's restricted SCC refuses it)."""
    for path, key, value in walk(doc.body):
        if key != "securityContext" or not isinstance(value, dict):
            continue
        if value.get("privileged") is True:
            yield doc.problem(f"{path}.privileged", "a privileged container")
        if value.get("runAsUser") == 0:
            yield doc.problem(f"{path}.runAsUser", "runs as root (uid 0)")
        if value.get("allowPrivilegeEscalation") is True:
            yield doc.problem(f"{path}.allowPrivilegeEscalation", "allows privilege escalation")
