"""Sr3D fidelity: for every Sr3D train referral, does our graph (built from the
ground-truth ScanNet object boxes) hold the same (target, anchor(s), relation)?

    python benchmarks/bm_sr3d_fidelity.py   # needs ../shared/data (or $SCENE3D_DATA)
"""

from __future__ import annotations

import glob
import os
import sys
import time
from pathlib import Path

from scene3d.graph.fidelity import format_recall, sr3d_recall
from scene3d.io import load_gt_object_scenes, read_referit3d_csv


def main() -> int:
    root = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    files = sorted(glob.glob(str(root / "language" / "sr3d_train_*.csv")))
    if not files:
        print(f"no Sr3D files under {root / 'language'}; set SCENE3D_DATA")
        return 1
    utts = [u for f in files for u in read_referit3d_csv(f).utterances]
    scenes = load_gt_object_scenes(root / "scannet" / "meta" / "objects_train_scenes.json.gz",
                                   scene_ids={u.scene_id for u in utts})
    t0 = time.perf_counter()
    result = sr3d_recall(utts, scenes)
    print(f"{len(utts)} Sr3D referrals in {len(scenes)} scenes, graphs + checks in {time.perf_counter() - t0:.1f} s")
    print(format_recall(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
