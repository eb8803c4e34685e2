"""Build a language corpus (referrals, object and scene captions) from real layouts.

    python data_tools/build_language_corpus.py --objects ../shared/data/scannet/meta/objects_train_scenes.json.gz \
        --out /work/runs/corpus_real --exclude /work/runs/real_held_out.txt [--workers 1] [--seed 0]

Every scene of the object-list file (the schema of ``scene3d.io.load_gt_object_scenes``)
becomes an object-only scene; its scene graph and language are generated and written to
``<out>/language.jsonl`` (``source = "generated_real"``), ``<out>/scenes.txt`` and
``<out>/stats.json``. See data_tools/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _driver import label_map_for, object_list_parser, one_line_errors

from scene3d.language import LanguageConfig
from scene3d.language.corpus import REAL_SOURCE, build_corpus


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = object_list_parser(__doc__, "output folder (language.jsonl, scenes.txt, stats.json)",
                            "synonyms (else the built-in list)")
    ap.add_argument("--exclude", type=Path, default=None, help="file of scene ids to leave out, one per line")
    ap.add_argument("--workers", type=int, default=1, help="processes (the output does not depend on it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-target", type=int, default=12, help="referrals per target object")
    ap.add_argument("--per-scene", type=int, default=300, help="cap on referrals per scene")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    label_map = label_map_for(args.objects, args.label_map)
    config = LanguageConfig(per_target=args.per_target, per_scene=args.per_scene, source=REAL_SOURCE,
                            label_map=None if label_map is None else str(label_map))

    def body() -> int:
        build_corpus(args.objects, args.out, args.exclude, workers=args.workers, seed=args.seed, config=config,
                     progress=not args.no_progress)
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
