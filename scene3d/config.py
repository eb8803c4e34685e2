"""The commands' configs: where their YAML files are, how ``key=value`` overrides compose
with them (Hydra), and the checks that answer a wrong option or value in one line before
anything heavy loads.

Each command has ``configs/<command with _>.yaml``; its comments are the command's help.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
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


def dataclass_from(cls, node: DictConfig, name: str, *, group: bool = True, **given):
    """``cls(**...)`` from a config node, with ``given`` fields set as passed.

    Args:
        group: the node is the dataclass's own group (``loop:``, ``model:``): every key must be
            a field. False: the node also holds the command's own options; the keys named like
            fields are taken.

    Raises:
        ConfigError: a key that is no field of a group, or a value the dataclass refuses (its
            message, prefixed by ``name``).
    """
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    if group and set(node.keys()) - names:
        raise ConfigError(f"{name}: {', '.join(sorted(set(node.keys()) - names))} is no field of {cls.__name__}")
    values = {k: node[k] for k in names if k in node and k not in given}
    try:
        return cls(**OmegaConf.to_container(OmegaConf.create(values), resolve=True), **given)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def need(cfg: DictConfig, key: str):
    try:
        return cfg[key]
    except MissingMandatoryValue:
        raise ConfigError(f"missing required argument {key}=...") from None


@dataclass(frozen=True)
class Option:
    """One option of a command, as its help lists it.

    Attributes:
        key: dotted name (``loop.steps``).
        kind: ``int``, ``float``, ``bool``, ``str``, ``list``, ``required`` (``???``) or ``null``
            (no default; the meaning says what it takes).
        default: the default as written in the config (``???`` when required).
        meaning: the option's comment in the config (continuation lines joined).
    """

    key: str
    kind: str
    default: str
    meaning: str


_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]\w*):(?P<value>[^#]*)(#\s?(?P<comment>.*))?$")


def options(command: str) -> tuple[str, list[Option]]:
    """The options of ``command`` with their kinds, defaults and meanings, read from its YAML
    config (the comment after each key; a comment-only line below a key continues it).

    Returns:
        (the config's leading comment lines joined, the options in file order; a map's
        options are listed by their dotted leaf keys, the map's own comment goes to its first).

    Raises:
        ConfigError: the config folder or the command's config is missing.
    """
    path = config_dir() / f"{command.replace('-', '_')}.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: no such config")
    text = path.read_text(encoding="utf-8")
    defaults = OmegaConf.create(text)
    head, rows, parents, last = [], [], [], None      # parents: (indent, key) of the open maps
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            comment = line.strip().lstrip("#").strip()
            if last is None:
                head.append(comment)
            elif line[:1].isspace() and rows:    # an indented comment line continues the option above
                rows[-1][2] = f"{rows[-1][2]} {comment}".strip()
            continue
        m = _LINE.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        parents = [(i, k) for i, k in parents if i < indent]
        key = ".".join([k for _, k in parents] + [m["key"]])
        last = key
        if not m["value"].strip():              # a map: its options follow, indented
            parents.append((indent, m["key"]))
        rows.append([key, m["value"].strip(), (m["comment"] or "").strip()])
    out, pending = [], ""
    for key, value, comment in rows:
        node = OmegaConf.select(defaults, key, default=None, throw_on_missing=False)
        if isinstance(node, DictConfig):        # a map's comment introduces its first option
            pending = f"{pending} {comment}".strip()
            continue
        if value == "???":
            kind = "required"
        elif node is None:
            kind = "null"
        else:
            kind = "list" if OmegaConf.is_list(node) else type(node).__name__
        meaning = f"({pending}) {comment}".strip() if pending and comment else (pending or comment)
        pending = ""
        out.append(Option(key, kind, value, meaning))
    return " ".join(head), out


def _kind_default(option: Option) -> str:
    if option.kind == "required":
        return "required"
    return f"= {option.default}" if option.kind == "null" else f"{option.kind} = {option.default}"


def command_help(command: str, summary: str) -> str:
    """The text of ``scene3d <command> --help``: usage, ``summary``, then one line per option
    (key, kind, default, meaning), required options first."""
    try:
        head, opts = options(command)
    except ConfigError as exc:
        return f"usage: scene3d {command} key=value ...\n{summary}\n\n{exc}"
    opts = sorted(opts, key=lambda o: o.kind != "required")
    kw = max((len(o.key) for o in opts), default=0)
    dw = min(max((len(_kind_default(o)) for o in opts), default=0), 30)
    lines = [f"  {o.key:<{kw}}  {_kind_default(o):<{dw}}  {o.meaning}" for o in opts]
    return (f"usage: scene3d {command} key=value ...\n{summary}\n{head}\n\n"
            f"options (key  kind = default  meaning), from {config_dir() / (command.replace('-', '_') + '.yaml')}:\n"
            + ("\n".join(lines) if lines else "  (none)"))
