"""Turn ground-truth object lists (``objects_train_scenes.json.gz``) into object-only scene folders.

    python data_tools/object_lists_to_layouts.py --objects ../shared/data/scannet/meta/objects_train_scenes.json.gz \
        --out <root> [--list scenes.txt] [--label-map scannetv2-labels.combined.tsv]

Each scene of the file (the schema of ``scene3d.io.load_gt_object_scenes``: boxes, labels,
colours in the axis-aligned frame) is written as ``<out>/<scene id>/`` with its objects and no
points (``save_scene``, atomic per folder), so that ``scene3d graph`` / ``scene3d language`` and
the grounding commands read real layouts like any dataset. See data_tools/README.md.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from _driver import label_map_for, object_list_parser, one_line_errors, run_items

from scene3d.io import LabelMap, load_gt_object_scenes, save_scene
from scene3d.language.corpus import read_scene_list
from scene3d.structures import Scene


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = object_list_parser(__doc__, "dataset root: each scene is written to <out>/<id>/", "NYU40 / ScanNet-20 labels")
    ap.add_argument("--list", type=Path, default=None, help="only these scene ids (a file, one per line; # comments)")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def save_one(scene: Scene, out: Path) -> str:
    """Write one object-only scene; a one-line note."""
    return f"{scene.scene_id}: {len(scene.objects)} objects -> {save_scene(scene, out)}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        label_map = label_map_for(args.objects, args.label_map)
        wanted = set(read_scene_list(args.list)) if args.list is not None else None
        scenes = load_gt_object_scenes(args.objects, label_map=None if label_map is None else LabelMap.read(label_map),
                                       scene_ids=wanted)
        missing = sorted(wanted - set(scenes)) if wanted is not None else []
        for sid in missing:
            print(f"error: {sid}: not in {args.objects}", file=sys.stderr)
        items = [scenes[s] for s in sorted(scenes)]
        notes = run_items(partial(save_one, out=args.out), items, 1, "layouts", not args.no_progress)
        print(f"wrote {len(notes)} layouts -> {args.out}" + (f" ({len(missing)} listed scenes not found)" if missing else ""))
        return 0 if len(notes) == len(items) and not missing else 2

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
