"""What the data_tools drivers share: a per-item loop with a progress bar that turns each item's
failure into one line, and the exit code convention (0 done, 2 an error, named in one line)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from scene3d.errors import Scene3DError
from scene3d.parallel import map_progress

T = TypeVar("T")


def _guarded(fn: Callable[[T], str], item: T) -> tuple[bool, str]:
    """``(True, fn(item))``, or ``(False, "<item>: <error>")`` when ``fn`` raises a Scene3DError."""
    try:
        return True, fn(item)
    except Scene3DError as exc:
        return False, f"{item}: {exc}"


def run_items(fn: Callable[[T], str], items: Sequence[T], workers: int, desc: str, progress: bool) -> list[str]:
    """Run ``fn`` (picklable, returning a one-line note) on every item over ``workers`` processes
    with a tqdm bar; print each failure as one ``error:`` line on stderr and return the notes of
    the items that worked (in input order)."""
    done = []
    for ok, line in map_progress(partial(_guarded, fn), items, workers, desc=desc, unit="item", progress=progress):
        if ok:
            done.append(line)
        else:
            print(f"error: {line}", file=sys.stderr)
    return done


#: ScanNet's label map, looked for beside an object-list file when none is given.
LABEL_MAP_NAME = "scannetv2-labels.combined.tsv"


def label_map_for(objects: Path, given: Path | None) -> Path | None:
    """``given``, else the :data:`LABEL_MAP_NAME` beside the ``objects`` file when there is one."""
    if given is None and (objects.parent / LABEL_MAP_NAME).is_file():
        return objects.parent / LABEL_MAP_NAME
    return given


def object_list_parser(doc: str, out_help: str, label_map_use: str) -> argparse.ArgumentParser:
    """The parser of a driver over an object-list file, with the options they all take:
    ``--objects``, ``--out`` (meaning ``out_help``) and ``--label-map`` (used for ``label_map_use``)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--objects", type=Path, required=True, help="objects_*.json(.gz): {'scenes': {id: [object, ...]}}")
    ap.add_argument("--out", type=Path, required=True, help=out_help)
    ap.add_argument("--label-map", type=Path, default=None,
                    help=f"ScanNet {LABEL_MAP_NAME} for {label_map_use} (default: the one beside --objects if present)")
    return ap


def one_line_errors(main: Callable[[], int]) -> int:
    """``main()``, with a Scene3DError (bad input file, missing folder...) printed as one
    ``error:`` line on stderr and exit code 2."""
    try:
        return main()
    except Scene3DError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
