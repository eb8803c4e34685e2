"""Grounding accuracy, end to end through the CLI: synthetic held-out scenes, zero-shot real
language, and real language on held-out scenes after training with the rest.

    python benchmarks/bm_grounding_accuracy.py --out runs/bm_grounding [--steps 2500]

Runs, in order (each step is skipped when its output exists, so an interrupted run resumes):
1. ``scene3d generate`` 240 object-list rooms, ``graph``, ``language``;
2. run A: ``train-grounding`` on the synthetic language only;
3. run B: the same plus the real train-side language (Nr3D, ScanRefer, Sr3D) with a quarter
   of its scenes held out (``<B>/real_held_out.txt``), Nr3D and ScanRefer drawn 4x as often;
4. ``eval-grounding`` of A on all the real language (zero-shot) and of A and B on the
   held-out scenes; prints one table (model vs class-random floor) from the metrics JSONs.

About 40 min for A and 60 min for B on the 2-core dev box (1 torch thread each).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(os.environ.get("SCENE3D_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LANG = DATA / "language"
OBJECTS = DATA / "scannet" / "meta" / "objects_train_scenes.json.gz"
SR3D = [LANG / f"sr3d_train_{k}.csv" for k in ("allocentric", "between", "support", "vertical")]
REAL = {"Nr3D": [LANG / "nr3d_train_sampled1000.csv"], "ScanRefer": [LANG / "ScanRefer_filtered_train_sampled1000.json"],
        "Sr3D": SR3D}


def scene3d(*args: str) -> None:
    print("$ scene3d " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "scene3d.cli", *args], check=True)


def merged_sr3d(out: Path) -> Path:
    """The four Sr3D CSVs as one file (same header)."""
    path = out / "sr3d_train_all.csv"
    if not path.is_file():
        lines = SR3D[0].read_text().splitlines(keepends=True)
        for f in SR3D[1:]:
            lines += f.read_text().splitlines(keepends=True)[1:]
        path.write_text("".join(lines))
    return path


def evaluate(run: Path, name: str, utterances: Path, out: Path, scenes: Path | None) -> dict:
    metrics = out / f"eval_{run.name}_{name}_{'held' if scenes else 'all'}.json"
    if not metrics.is_file():
        scene3d("eval-grounding", f"checkpoint={run}", f"utterances={utterances}", f"objects={OBJECTS}",
                f"out={metrics}", *([f"scenes={scenes}"] if scenes else []))
    return json.loads(metrics.read_text())


def row(label: str, m: dict) -> str:
    if m["protocol"] == "scanrefer":
        s, f = m["scanrefer"], m["floor"]["scanrefer"]
        return (f"| {label} | {m['evaluated']} | Acc@0.25 {s['acc25']:.1%} / floor {f['acc25']:.1%} | "
                f"unique {s['unique25']:.1%} / {f['unique25']:.1%} | multiple {s['multiple25']:.1%} / "
                f"{f['multiple25']:.1%} | Acc@0.5 {s['acc50']:.1%} / {f['acc50']:.1%} |")
    s, f = m["referit3d"], m["floor"]["referit3d"]
    return (f"| {label} | {m['evaluated']} | {s['overall']:.1%} / floor {f['overall']:.1%} | easy {s['easy']:.1%} / "
            f"{f['easy']:.1%} | hard {s['hard']:.1%} / {f['hard']:.1%} | view-dep. {s['view_dependent']:.1%} / "
            f"{f['view_dependent']:.1%} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/bm_grounding"))
    ap.add_argument("--steps", type=int, default=2500)
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    synth = out / "synthetic"
    if not (synth / "language.jsonl").is_file():
        scene3d("generate", "num_scenes=240", f"out={synth}", "num_points=500", "min_object_points=1", "num_frames=0")
        scene3d("graph", f"data={synth}")
        scene3d("language", f"data={synth}")
    sr3d = merged_sr3d(out)
    files = {"Nr3D": REAL["Nr3D"][0], "ScanRefer": REAL["ScanRefer"][0], "Sr3D": sr3d}
    common = [f"data={synth}", f"steps={args.steps}"]
    run_a, run_b = out / "A", out / "B"
    scene3d("train-grounding", f"out={run_a}", *common)   # resumes, or only re-reports, when done
    real = ",".join(str(p) for p in [*REAL["Nr3D"], *REAL["ScanRefer"], *SR3D])
    scene3d("train-grounding", f"out={run_b}", *common, f"real.language=[{real}]", f"real.objects={OBJECTS}",
            "real.held_out=0.25", "source_weights.nr3d=4", "source_weights.scanrefer=4")
    held = run_b / "real_held_out.txt"
    print("\n| model, language | n | ReferIt3D overall (ScanRefer: Acc@0.25) | | | |\n|---|---|---|---|---|---|")
    for name, path in files.items():
        print(row(f"A (synthetic only), {name}, all scenes, zero-shot", evaluate(run_a, name, path, out, None)))
    for name, path in files.items():
        print(row(f"A (synthetic only), {name}, held-out scenes", evaluate(run_a, name, path, out, held)))
        print(row(f"B (+ real train part), {name}, held-out scenes", evaluate(run_b, name, path, out, held)))


if __name__ == "__main__":
    main()
