"""The ``scene3d`` command: ``scene3d <command> key=value ...``, a dispatcher.

Each command's options are its config ``configs/<command with _>.yaml`` (:mod:`scene3d.config`
composes and checks them); each command's code is a ``cmd_*`` function next to the stage it
runs (``scene3d/<stage>/commands.py``), imported only once its arguments are checked. Run
``scene3d --help``.
"""

from __future__ import annotations

import importlib
import os
import sys

from omegaconf import OmegaConf

from scene3d.config import command_help, compose, config_dir
from scene3d.errors import ConfigError, Scene3DError

COMMANDS: dict[str, tuple[str, str]] = {
    "import-scannet": ("scene3d.commands.io:cmd_import_scannet",
                       "import one ScanNet scan folder: scan=<folder> out=<root>"),
    "import-ply": ("scene3d.commands.io:cmd_import_ply", "import an unlabelled PLY/mesh: path=<file> out=<root>"),
    "info": ("scene3d.commands.io:cmd_info", "print a scene's summary: scene=<scene folder>"),
    "generate": ("scene3d.commands.synth:cmd_generate",
                 "generate synthetic scenes: num_scenes=N out=<root> seed=S workers=W"),
    "graph": ("scene3d.commands.graph:cmd_graph", "scene graphs of every scene: data=<root> (writes <scene>/graph.json)"),
    "language": ("scene3d.commands.language:cmd_language",
                 "referrals and captions of every scene: data=<root> (writes language.jsonl)"),
    "train-grounding": ("scene3d.commands.grounding:cmd_train_grounding",
                        "train the grounding model: data=<root> out=<run> steps=N (torchrun for DDP)"),
    "eval-grounding": ("scene3d.commands.grounding:cmd_eval_grounding",
                       "real language with GT objects: checkpoint=<run> utterances=<csv/json> objects=<gz> "
                       "[out=metrics.json]"),
    "ground": ("scene3d.commands.grounding:cmd_ground",
               "ground a sentence: scene=<scene folder> query=\"...\" [checkpoint=<run>; default: the packaged model]"),
    "export-grounding": ("scene3d.commands.grounding:cmd_export_grounding",
                         "a run's weights as a self-contained model folder: checkpoint=<run> out=<folder>; "
                         "checkpoint=[<run>,<run>] packs an ensemble; [rotations=N] turns averaged"),
    "view": ("scene3d.commands.viewer:cmd_view",
             "web viewer of scenes and grounding: data=<root> [checkpoint=<run>] port=8080"),
    "pretrain": ("scene3d.commands.distill:cmd_pretrain",
                 "2D-3D feature distillation: data=<root> out=<run> (torchrun for DDP)"),
    "features": ("scene3d.commands.distill:cmd_features",
                 "point features, keypoints, scene descriptor: scene=<folder> checkpoint=<run> out=<dir>"),
    "eval-segmentation": ("scene3d.commands.distill:cmd_eval_segmentation",
                          "zero-shot 3D segmentation of held-out scenes (fused teacher, student, ensemble): "
                          "data=<root> checkpoint=<pretrain run> [out=metrics.json]"),
    "segment": ("scene3d.commands.distill:cmd_segment",
                "open-vocabulary labels, scores, feature PCA colours, [query relevancy] of a scene's points: "
                "scene=<folder> checkpoint=<pretrain run> out=<dir>"),
    "segment-instances": ("scene3d.commands.instances:cmd_segment_instances",
                          "instance proposals with open-vocabulary labels, written as predicted objects: "
                          "scene=<folder> [checkpoint=<pretrain run>]"),
    "index": ("scene3d.commands.repository:cmd_index",
              "add a folder of scenes to a scene index: data=<root> index=<folder> (resumable)"),
    "search": ("scene3d.commands.repository:cmd_search",
               "search a scene index: index=<folder> query=\"...\" (text), image=<png/jpg> intrinsics=<K.txt> "
               "(scenes + camera pose) or scene=<scene folder> (same place)"),
    "duplicates": ("scene3d.commands.repository:cmd_duplicates",
                   "pairs of indexed scenes that are the same place: index=<folder> [out=report.json]"),
    "demo": ("scene3d.commands.demo:cmd_demo", "run the main job on the embedded default data: out=<root>"),
}
"""Command name -> ("module:function" run with the composed config, one-line description)."""


def _print(text: str) -> None:
    """Print help; a reader that stops early (``scene3d pretrain --help | head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    try:
        where = str(config_dir())
    except ConfigError as exc:
        where = str(exc)
    return (f"usage: scene3d <command> [key=value ...]\n\ncommands:\n{rows}\n\n"
            f"scene3d <command> --help lists a command's arguments; configs: {where}")


HELP = ("-h", "--help", "help")


RAW_KEYS = {"ground": ("query",)}
"""Arguments taken as typed, not parsed by Hydra (so a sentence may hold commas, quotes or
brackets), and repeatable: ``scene3d ground query="a, b" query="c"`` gives a list of two."""


def _take_raw(command: str, overrides: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    keys = RAW_KEYS.get(command, ())
    raw: dict[str, list[str]] = {}
    rest = []
    for arg in overrides:
        key, eq, value = arg.partition("=")
        if eq and key in keys:
            raw.setdefault(key, []).append(value)
        else:
            rest.append(arg)
    return rest, raw


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scene3d`` console script; returns the exit code.

    Help and argument errors are answered before any model or heavy library is imported;
    the thread policy (:mod:`scene3d.runtime`) is applied before torch is.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in HELP:
        _print(_usage())
        return 0 if argv else 2
    command, overrides = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"scene3d: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if any(arg in HELP for arg in overrides):
        _print(command_help(command, COMMANDS[command][1]))
        return 0
    try:
        from scene3d.runtime import configure_threads

        configure_threads()
        overrides, raw = _take_raw(command, overrides)
        cfg = compose(command, overrides)
        for key, values in raw.items():
            cfg[key] = values
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ConfigError(f"missing required argument{'s' if len(missing) > 1 else ''} "
                              f"{' '.join(k + '=...' for k in missing)} (scene3d {command} --help)")
        module, _, function = COMMANDS[command][0].partition(":")
        return getattr(importlib.import_module(module), function)(cfg)
    except (Scene3DError, ValueError) as exc:  # bad input or arguments: a message, not a traceback
        print(f"scene3d {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
