"""Convert ReferIt3D (Nr3D / Sr3D CSV) and ScanRefer (JSON) files into one Utterance JSONL.

    python data_tools/convert_referring.py ../shared/data/language/nr3d_train_sampled1000.csv \
        ../shared/data/language/ScanRefer_filtered_train_sampled1000.json --out <dir>/language.jsonl \
        [--objects ../shared/data/scannet/meta/objects_train_scenes.json.gz]

Files are read by suffix (``.csv``: ``scene3d.io.read_referit3d_csv``, ``.json``:
``read_scanrefer_json``), one line per file as it goes; rows that cannot be read are counted and
the first few named. With
``--objects``, referrals whose scene, target or anchors are not in the object lists
(``check_targets``) are left out too. The output is written atomically. See data_tools/README.md.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from _driver import one_line_errors

from scene3d.errors import ConfigError
from scene3d.io import (
    LoadReport,
    check_targets,
    load_gt_object_scenes,
    read_referit3d_csv,
    read_scanrefer_json,
    write_utterances_jsonl,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", type=Path, nargs="+", help="ReferIt3D .csv and ScanRefer .json files")
    ap.add_argument("--out", type=Path, required=True, help="the JSONL to write (one Utterance per line)")
    ap.add_argument("--objects", type=Path, default=None,
                    help="objects_*.json(.gz): drop referrals whose scene, target or anchors it lacks")
    ap.add_argument("--show", type=int, default=5, help="problems named per file (the rest are counted)")
    return ap.parse_args(argv)


def read_file(path: Path) -> LoadReport:
    """The utterances and problems of one file, by suffix."""
    if path.suffix == ".csv":
        return read_referit3d_csv(path)
    if path.suffix == ".json":
        return read_scanrefer_json(path)
    raise ConfigError(f"{path}: unknown suffix (ReferIt3D .csv or ScanRefer .json)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def body() -> int:
        utterances = []
        for path in args.files:
            report = read_file(path)
            utterances += report.utterances
            print(f"{path}: {len(report.utterances)} referrals, {len(report.problems)} unreadable rows")
            for p in report.problems[:args.show]:
                print(f"  row {p.row}: {p.reason}")
        if args.objects is not None:
            scenes = load_gt_object_scenes(args.objects, scene_ids={u.scene_id for u in utterances})
            bad = check_targets(utterances, scenes)
            dropped = {id(u) for u, _ in bad}
            utterances = [u for u in utterances if id(u) not in dropped]
            print(f"{args.objects}: left out {len(bad)} referrals that do not match the object lists")
            for u, reason in bad[:args.show]:
                print(f"  {u.source} {u.utterance_id or u.scene_id}: {reason}")
        write_utterances_jsonl(args.out, utterances)
        by_source = ", ".join(f"{k} {v}" for k, v in Counter(u.source for u in utterances).most_common())
        print(f"wrote {len(utterances)} utterances ({by_source}) -> {args.out}")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
