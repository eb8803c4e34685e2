"""The commands' configs: where their YAML files are, how ``key=value`` overrides compose
with them (Hydra), and the checks that answer a wrong option or value in one line before
anything heavy loads.

Each command has ``configs/<command with _>.yaml``; its comments are the command's help.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from scene3d.errors import ConfigError


REPO_ROOT = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The folder of the commands' YAML configs: ``$SCENE3D_CONFIG_DIR``, else ``configs/`` of
    the source checkout (also an editable install), else ``<prefix>/share/scene3d/configs``
    where a wheel installs them."""
    import sysconfig

    if "SCENE3D_CONFIG_DIR" in os.environ:
        candidates = [Path(os.environ["SCENE3D_CONFIG_DIR"])]
    else:
        candidates = [REPO_ROOT / "configs", Path(sysconfig.get_path("data")) / "share" / "scene3d" / "configs"]
    for path in candidates:
        if path.is_dir():
            return path
    raise ConfigError(f"config folder not found (looked in {', '.join(map(str, candidates))}): reinstall scene3d "
                      "(pip install scene3d, or pip install -e . in its repository) or set SCENE3D_CONFIG_DIR")


#: Config maps whose keys are open: these by name, and any node with a ``_target_`` (a factory).
OPEN_MAPS = {"source_weights"}


#: Options that take values of several kinds (a share or a scene-list file).
ANY_KIND = {"real.held_out"}


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _default_of(defaults: DictConfig, key: str) -> tuple[bool, object]:
    """(whether the dotted option exists, its default: None when required (???), null or
    inside an open map)."""
    node: object = defaults
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node.keys():   # `in` is False for ??? values
            return False, None
        if OmegaConf.is_missing(node, part):
            return i == len(parts) - 1, None
        node = node[part]
        if ".".join(parts[:i + 1]) in OPEN_MAPS or (isinstance(node, DictConfig) and "_target_" in node):
            return True, None
    return True, node


def _flat_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Dotted keys of a config's nodes and leaves."""
    out = []
    for k in node:
        out.append(prefix + str(k))
        if isinstance(node._get_node(k), DictConfig):
            out += _flat_keys(node[k], f"{prefix}{k}.")
    return out


def _check_options(command: str, defaults: DictConfig, overrides: list[str]) -> None:
    """Refuse an option the command does not have, naming the nearest known ones; ``+key=``
    does not get around it (keys inside open maps, ``OPEN_MAPS`` or factories, may be new).

    Raises:
        ConfigError: "unknown option num_scene; did you mean num_scenes?".
    """
    import difflib

    for arg in overrides:
        key = arg.partition("=")[0].lstrip("+~")
        if not _default_of(defaults, key)[0]:
            near = difflib.get_close_matches(key, _flat_keys(defaults), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            raise ConfigError(f"unknown option {key}{hint} (scene3d {command} --help lists them)")


def _check_kinds(command: str, defaults: DictConfig, cfg: DictConfig, overrides: list[str]) -> None:
    """Refuse a value of another kind than its option's default (``num_scenes=abc``; a number
    for a number, true/false for a flag); options whose default is null or a list are free.

    Raises:
        ConfigError: naming the option, the value and the kind expected.
    """
    for arg in overrides:
        key = arg.partition("=")[0].lstrip("+~")
        default = _default_of(defaults, key)[1]
        expected = type(default)
        if expected not in _KINDS or key in ANY_KIND:
            continue
        value = OmegaConf.select(cfg, key)
        ok = value is None or (isinstance(value, expected) and not (expected is int and isinstance(value, bool)))
        ok = ok or (expected is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{key}={value!r}: expected {_KINDS[expected]} (default {default!r}; "
                              f"scene3d {command} --help)")


def _hydra_form(override: str, known: set[str]) -> str:
    """A checked override in Hydra's syntax: an existing key without "+", a new key (inside an
    open map) with it; deletions ("~key") as given."""
    if override.startswith("~"):
        return override
    body = override.lstrip("+")
    return body if body.partition("=")[0] in known else "+" + body


def compose(command: str, overrides: list[str]) -> DictConfig:
    """Compose the command's config with ``key=value`` overrides (Hydra syntax), after checking
    that every option exists (:func:`_check_options`) and then that its value has the kind of
    its default (:func:`_check_kinds`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    name = command.replace("-", "_")
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            defaults = hydra_compose(config_name=name)
            _check_options(command, defaults, overrides)
            known = set(_flat_keys(defaults))
            cfg = hydra_compose(config_name=name, overrides=[_hydra_form(o, known) for o in overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"{command}: {exc}") from None
    _check_kinds(command, defaults, cfg, overrides)
    return cfg


def need(cfg: DictConfig, key: str):
    try:
        return cfg[key]
    except MissingMandatoryValue:
        raise ConfigError(f"missing required argument {key}=...") from None
