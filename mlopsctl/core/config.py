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
        raise BadInput(_first_line(exc), _override_hint(conf_dir, exc)) from exc
    assert isinstance(params, dict)
    return {str(k): v for k, v in params.items()}


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


def _override_hint(conf_dir: Path, exc: BaseException) -> str:
    groups = sorted(p.name for p in conf_dir.iterdir() if p.is_dir())
    choices = "; ".join(f"{g}: {', '.join(group_options(conf_dir, g))}" for g in groups)
    return f"config groups and their options — {choices}" if choices else "check conf/"
