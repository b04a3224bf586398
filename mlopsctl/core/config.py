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
