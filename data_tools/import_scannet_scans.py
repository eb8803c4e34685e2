"""Import many ScanNet scans into canonical scene folders (``scene3d import-scannet``, in bulk).

    python data_tools/import_scannet_scans.py --scans <ScanNet>/scans --out <root> [--list scans.txt] \
        [--workers 2] [--skip-existing] [--no-frames] [--box-mode aabb]

Every sub-folder of ``--scans`` that is a scan (``<id>/<id>_vh_clean_2.ply``), or every id of
``--list``, becomes ``<out>/<scene id>/`` (``scene3d.io.import_scannet`` + ``save_scene``; each
folder is written atomically). A scan that fails is named on one ``error:`` line and the others
go on; the exit code is then 2. See data_tools/README.md.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from _driver import one_line_errors, run_items

from scene3d.errors import ConfigError
from scene3d.io import import_scannet, save_scene
from scene3d.language.corpus import read_scene_list


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scans", type=Path, required=True, help="folder of ScanNet scan folders (<id>/<id>_vh_clean_2.ply ...)")
    ap.add_argument("--out", type=Path, required=True, help="dataset root: each scan is written to <out>/<id>/")
    ap.add_argument("--list", type=Path, default=None, help="only these scan ids (a file, one per line; # comments)")
    ap.add_argument("--label-map", type=Path, default=None,
                    help="scannetv2-labels.combined.tsv (default: the one inside each scan folder)")
    ap.add_argument("--box-mode", choices=("aabb", "obb"), default="aabb", help="object boxes (aabb: ScanRefer)")
    ap.add_argument("--no-align", action="store_true", help="keep the scan's own frame (no axis alignment)")
    ap.add_argument("--no-frames", action="store_true", help="skip the posed RGB frames")
    ap.add_argument("--max-frames", type=int, default=None, help="at most this many frames per scan")
    ap.add_argument("--image-scale", type=float, default=1.0, help="resize frames (K follows)")
    ap.add_argument("--with-mesh", action="store_true", help="also write mesh.ply")
    ap.add_argument("--skip-existing", action="store_true", help="leave scans that already have <out>/<id>/scene.json")
    ap.add_argument("--workers", type=int, default=1, help="processes")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def import_one(scan: Path, out: Path, args: argparse.Namespace) -> str:
    """Import the scan folder ``scan`` into ``out``; a one-line note."""
    scene, report = import_scannet(scan, label_map=args.label_map, align=not args.no_align, box_mode=args.box_mode,
                                   with_mesh=args.with_mesh, with_frames=not args.no_frames,
                                   image_scale=args.image_scale, max_frames=args.max_frames)
    folder = save_scene(scene, out)
    return f"{scene.scene_id}: {len(scene.objects)} objects, {scene.num_points:,} points, {len(scene.frames)} frames -> {folder}"


def scan_folders(args: argparse.Namespace) -> list[Path]:
    """The scan folders to import (sorted), after --list and --skip-existing."""
    if not args.scans.is_dir():
        raise ConfigError(f"--scans {args.scans}: folder not found")
    if args.list is not None:
        scans = [args.scans / s for s in read_scene_list(args.list)]
    else:
        scans = sorted(p for p in args.scans.iterdir() if (p / f"{p.name}_vh_clean_2.ply").is_file())
    if args.skip_existing:
        scans = [s for s in scans if not (args.out / s.name / "scene.json").is_file()]
    return scans


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        scans = scan_folders(args)
        notes = run_items(partial(import_one, out=args.out, args=args), scans, args.workers, "scans", not args.no_progress)
        for line in notes:
            print(line)
        print(f"imported {len(notes)} of {len(scans)} scans -> {args.out}")
        return 0 if len(notes) == len(scans) else 2

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
