"""Hydra config: compose `conf/` (plus overrides) into the `params.yaml` that DVC tracks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput

CONF_DIR = "conf"
PRIMARY_CONFIG = "config"
PARAMS_FILE = "params.yaml"
PARAMS_HEADER = (
    "# Composed by mlopsctl from conf/ (Hydra). Edit conf/ and run `mlopsctl train`;\n"
    "# DVC tracks this file, so it must always equal the composed config.\n"
)


def group_options(conf_dir: Path, group: str) -> list[str]:
    """The options of a config group: the YAML files in conf/<group>/."""
    folder = conf_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def compose_params(project: Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Compose conf/config.yaml with Hydra overrides into a plain, resolved dict."""
    import yaml
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    conf_dir = (project / CONF_DIR).resolve()
    if not (conf_dir / f"{PRIMARY_CONFIG}.yaml").is_file():
        raise BadInput(
            f"no Hydra config at {conf_dir / (PRIMARY_CONFIG + '.yaml')}",
            "run this inside a project made by `mlopsctl init`",
        )
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            cfg = compose(PRIMARY_CONFIG, overrides=list(overrides))
        params = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException, yaml.YAMLError) as exc:
        bad = _unparsable(overrides)
        if bad is not None:
            raise BadInput(
                f"cannot read the override {bad!r}: {_first_line(exc)}",
                "an override is KEY=VALUE, +KEY=VALUE, ~KEY or GROUP=OPTION; quote a value "
                "with spaces or special characters inside it: KEY='a b'",
            ) from exc
        raise BadInput(_first_line(exc), _override_hint(project, conf_dir, exc)) from exc
    assert isinstance(params, dict)
    return {str(k): v for k, v in params.items()}


COMPOSE_CACHE = Path(".dvc") / "tmp" / "mlopsctl-compose.json"


def compose_validated(project: Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """compose_params + validate_override_types, remembered for identical conf/ contents and
    overrides (Hydra costs ~0.3 s a run; a no-op `mlopsctl train` should cost what DVC does)."""
    import hashlib
    import json

    conf_dir = project / CONF_DIR
    digest = hashlib.sha256(json.dumps(list(overrides)).encode())
    for path in sorted(conf_dir.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(conf_dir)).encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    cache = project / COMPOSE_CACHE
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("key") == key and isinstance(cached.get("params"), dict):
            return dict(cached["params"])
    except (OSError, ValueError):
        pass
    params = compose_params(project, overrides)
    validate_override_types(project, overrides, params)
    if cache.parent.is_dir():
        write_atomic(cache, json.dumps({"key": key, "params": params}))
    return params


def render_params(params: dict[str, Any]) -> str:
    import yaml

    return PARAMS_HEADER + yaml.safe_dump(params, sort_keys=False, default_flow_style=False)


def write_params(project: Path, params: dict[str, Any]) -> bool:
    """Write params.yaml atomically, only when its content changes. True if it was written."""
    path = project / PARAMS_FILE
    text = render_params(params)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text)
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _unparsable(overrides: list[str] | tuple[str, ...]) -> str | None:
    """The first override Hydra's grammar cannot read (Hydra's own message names none)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException:  # its syntax errors are plain HydraExceptions
            return override
    return None


def _override_hint(project: Path, conf_dir: Path, exc: BaseException) -> str:
    import re

    text = str(exc)
    if m := re.search(r"Could not find '([^/']+)/", text):
        group = m[1]
        return f"options of {group}: {', '.join(group_options(conf_dir, group))}"
    if m := re.search(r"Could not override '([^']+)'", text):
        parent = m[1].rpartition(".")[0]
        keys = _keys_under(project, parent)
        where = parent or "the config"
        listed = f"keys of {where}: {', '.join(keys)}; " if keys else ""
        return f"{listed}to add a new key use +{m[1]}=VALUE"
    groups = sorted(p.name for p in conf_dir.iterdir() if p.is_dir())
    choices = "; ".join(f"{g}: {', '.join(group_options(conf_dir, g))}" for g in groups)
    return f"config groups and their options: {choices}" if choices else "check conf/"


def _keys_under(project: Path, dotted: str) -> list[str]:
    try:
        node: Any = compose_params(project)
    except BadInput:
        return []
    for part in filter(None, dotted.split(".")):
        node = node.get(part) if isinstance(node, dict) else None
    return sorted(node) if isinstance(node, dict) else []


def _parse_overrides(overrides: list[str] | tuple[str, ...]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return list(OverridesParser.create().parse_overrides(list(overrides)))
    except HydraException as exc:
        raise BadInput(_first_line(exc), "overrides look like key=value, group=option") from exc


def expand_sweep(overrides: list[str] | tuple[str, ...]) -> list[list[str]]:
    """Hydra sweep syntax to the cartesian product of plain overrides:
    ['model=a,b', 'seed=1,2'] -> [['model=a', 'seed=1'], ['model=a', 'seed=2'], ...]."""
    import itertools

    axes: list[list[str]] = []
    for override in _parse_overrides(overrides):
        key = override.get_key_element()
        if override.is_sweep_override():
            axes.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            axes.append([override.input_line])
    return [list(combo) for combo in itertools.product(*axes)]


def validate_override_types(
    project: Path, overrides: list[str] | tuple[str, ...], params: dict[str, Any]
) -> None:
    """Hydra rejects unknown keys and options; this rejects values of the wrong type
    (`data.test_size=abc`) by comparing each overridden value with the config's own."""
    if not overrides:
        return
    parsed = _parse_overrides(overrides)
    conf_dir = project / CONF_DIR
    groups = [
        o for o in parsed if "." not in o.key_or_group and (conf_dir / o.key_or_group).is_dir()
    ]
    values = [o for o in parsed if o not in groups and not o.is_add() and not o.is_delete()]
    if not values:
        return
    baseline = flatten(compose_params(project, [o.input_line for o in groups]))
    composed = flatten(params)
    for override in values:
        key = override.key_or_group
        expected, actual = baseline.get(key), composed.get(key)
        if expected is None or actual is None or _same_kind(expected, actual):
            continue
        raise BadInput(
            f"{override.input_line}: {key} takes {_kind(expected)}, not {_kind(actual)}",
            f"the config's value is {expected!r}",
        )


def _same_kind(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool)
    if isinstance(expected, float):
        return isinstance(actual, int | float)
    for kind in (int, str, list, dict):
        if isinstance(expected, kind):
            return isinstance(actual, kind)
    return True


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    return names.get(type(value), type(value).__name__)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: how DVC names nested metrics and params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _defaults_choice(config_text: str, group: str) -> str | None:
    import re

    m = re.search(rf"^\s*-\s*{re.escape(group)}\s*:\s*([\w.-]+)\s*$", config_text, re.M)
    return m[1] if m else None


def _leaf_diffs(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    a, b = flatten(want), flatten(have)
    return sorted((k for k in set(a) | set(b) if a.get(k, _MISSING) != b.get(k, _MISSING)),
                  key=lambda k: (k.count("."), k))  # fmt: skip


_MISSING = object()


def write_params_into_conf(project: Path, wanted: dict[str, Any]) -> list[str] | None:
    """Edit conf/ so that it composes to `wanted` (an applied experiment's params.yaml):
    group choices in config.yaml's defaults, values in the file that sets them, comments
    kept. The changes made ("conf/model/rf.yaml: n_estimators: 300"), or None with conf/
    left as it was when conf/ cannot be made to compose to it."""
    import io
    import json

    from ruamel.yaml import YAML

    conf_dir = project / CONF_DIR
    main = conf_dir / f"{PRIMARY_CONFIG}.yaml"
    originals: dict[Path, bytes] = {}
    changes: list[str] = []
    yaml = YAML()  # round trip: comments and order kept
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the template's style: "  - item"
    yaml.width = 4096
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )

    def edit(path: Path, text: str) -> None:
        originals.setdefault(path, path.read_bytes())
        write_atomic(path, text)

    try:
        for group in sorted(p.name for p in conf_dir.iterdir() if p.is_dir()):
            text = main.read_text(encoding="utf-8")
            current = _defaults_choice(text, group)
            if current is None or not isinstance(wanted.get(group), dict):
                continue
            composed = compose_params(project)
            if not _leaf_diffs(wanted[group], composed.get(group) or {}):
                continue
            scores = {
                option: len(
                    _leaf_diffs(
                        wanted[group], compose_params(project, [f"{group}={option}"])[group]
                    )
                )
                for option in group_options(conf_dir, group)
            }
            best = min(scores, key=lambda o: (scores[o], o != current))
            if best != current:
                import re

                pattern = rf"^(\s*-\s*{re.escape(group)}\s*:\s*){re.escape(current)}(\s*)$"
                edit(main, re.sub(pattern, rf"\g<1>{best}\g<2>", text, count=1, flags=re.M))
                changes.append(f"conf/{PRIMARY_CONFIG}.yaml: defaults {group}: {best}")
        tried: set[str] = set()
        while diffs := _leaf_diffs(wanted, compose_params(project)):
            key = diffs[0]
            if key in tried:
                raise ValueError(key)  # setting it did not take (interpolation, @package)
            tried.add(key)
            parts = key.split(".")
            text = main.read_text(encoding="utf-8")
            choice = _defaults_choice(text, parts[0]) if len(parts) > 1 else None
            if choice is not None and (conf_dir / parts[0] / f"{choice}.yaml").is_file():
                path, inner = conf_dir / parts[0] / f"{choice}.yaml", parts[1:]
            else:
                path, inner = main, parts
            doc = yaml.load(path.read_text(encoding="utf-8"))
            node = doc
            for part in inner[:-1]:
                if part not in node or not isinstance(node[part], dict):
                    node[part] = {}
                node = node[part]
            value = flatten(wanted).get(key, _MISSING)
            where = f"{path.relative_to(project).as_posix()}: {'.'.join(inner)}"
            if value is _MISSING:
                node.pop(inner[-1], None)
                changes.append(f"{where} removed")
            else:
                node[inner[-1]] = value
                changes.append(f"{where}: {json.dumps(value)}")
            out = io.StringIO()
            yaml.dump(doc, out)
            edit(path, out.getvalue())
    except (ValueError, TypeError, BadInput, OSError):
        for path, data in originals.items():
            write_atomic(path, data)
        return None
    return changes
