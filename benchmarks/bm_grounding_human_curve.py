"""How much does more human language buy? Grounding accuracy on real held-out scenes against the
share of the train-side human sentences (Nr3D and ScanRefer) a model trains on.

    python benchmarks/bm_grounding_human_curve.py --held-out runs/real_held_out.txt \
        --out runs/human_curve [--fractions 0.25 0.5 1] [--steps 3500] [--seeds 0 1] \
        [--done 1@0=runs/scaling/run_0 1@1=runs/run_0_s1] [--text-cache runs/text_cache]

Each point is the recipe of the packaged model's human-language member (the 0 point of
``bm_grounding_scaling.py``): ``scene3d train-grounding`` from scratch for ``--steps`` steps
on Nr3D, ScanRefer and all of Sr3D, each source drawn a third of the time. Only the number of
Nr3D and ScanRefer sentences changes: a fraction of those outside the held-out scenes, the
same seeded sample of each file for every point of a seed (smaller samples are part of larger
ones); each seed draws its own samples and trains with that seed. Sr3D is kept whole, so the
curve isolates free-form human language. ``--done F@SEED=RUN`` uses a finished run for a point.
Runs resume and are skipped when done. Every run is scored alone on the held-out scenes
(``bm_grounding_real.py``, 4 turns); prints the table and writes
``docs/figures/grounding_human_curve.png`` (the mean over seeds, each seed's points marked).
About 35 min per point on one thread of the 2-core dev box with another run beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections import Counter
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from bm_grounding_real import FILES, OBJECTS, accuracy_rows, load  # noqa: E402
from bm_grounding_scaling import save_curve, source_counts, train, weights  # noqa: E402

from scene3d.grounding import Grounder  # noqa: E402

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "grounding_human_curve.png"


def sample(held: set[str], fraction: float, seed: int, out: Path) -> list[Path]:
    """Nr3D and ScanRefer files holding ``fraction`` of their sentences outside ``held`` (a seeded
    permutation's first part, in file order)."""
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{fraction:g}"
    (nr3d,), (scanrefer,) = FILES["Nr3D"], FILES["ScanRefer"]
    with open(nr3d, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, [r for r in reader if r["scan_id"] not in held]
    refs = [r for r in json.loads(scanrefer.read_text()) if r["scene_id"] not in held]
    rng = np.random.default_rng(seed)
    picks = [sorted(rng.permutation(len(items))[:int(round(fraction * len(items)))]) for items in (rows, refs)]
    nr3d_out, scanrefer_out = out / f"nr3d_{tag}.csv", out / f"scanrefer_{tag}.json"
    with open(nr3d_out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows[i] for i in picks[0])
    scanrefer_out.write_text(json.dumps([refs[i] for i in picks[1]]))
    return [nr3d_out, scanrefer_out]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--held-out", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/human_curve"))
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.25, 0.5, 1.0])
    ap.add_argument("--steps", type=int, default=3500)
    ap.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0], help="sentence samples and training seeds")
    ap.add_argument("--done", nargs="*", default=[], help="F@SEED=RUN: a finished run for a point")
    ap.add_argument("--text-cache", type=Path, default=None)
    args = ap.parse_args()
    if not all(0 < f <= 1 for f in args.fractions):
        ap.error(f"--fractions must be in (0, 1], got {args.fractions}")
    out = args.out.resolve()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    held = {line.strip() for line in args.held_out.read_text().splitlines() if line.strip()}
    done = {}
    for item in args.done:
        key, _, run = item.partition("=")
        fraction, _, seed = key.partition("@")
        done[(float(fraction), int(seed or 0))] = Path(run)
    common = [f"real.objects={OBJECTS}", f"real.held_out={args.held_out.resolve()}",
              f"text_cache={args.text_cache or out / 'text_cache'}"]
    points = []
    for seed in args.seeds:
        for fraction in args.fractions:
            files = sample(held, fraction, seed, out / f"language_{seed}") + FILES["Sr3D"]
            counts = source_counts(files, held)
            run = done.get((fraction, seed), out / f"run_{fraction:g}_seed{seed}")
            if (fraction, seed) not in done:
                train([f"out={run}", f"steps={args.steps}", f"seed={seed}",
                       f"real.language=[{','.join(str(f) for f in files)}]", *common,
                       *[f"source_weights.{s}={w:.6g}" for s, w in weights(Counter(counts)).items()]])
            points.append((counts["nr3d"], counts["scanrefer"], seed, run))
    _, data = load(args.held_out)
    print("| Nr3D / ScanRefer train sentences (seed) | Nr3D overall (easy / hard) | Sr3D overall (easy / hard) | "
          "ScanRefer Acc@0.25 (unique / multiple) |\n|---|---|---|---|")
    rows = [(n, accuracy_rows(f"{n} / {s} ({seed})", Grounder.from_checkpoint(run), data)) for n, s, seed, run in points]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = sorted({n for n, _ in rows})
    for name, key, metric in (("Nr3D", "referit3d", "overall"), ("Sr3D", "referit3d", "overall"),
                              ("ScanRefer Acc@0.25", "scanrefer", "acc25")):
        ys = [(n, 100 * r[name.split()[0]][key][metric]) for n, r in rows]
        line, = ax.plot(xs, [np.mean([y for n, y in ys if n == x]) for x in xs], "-", label=name)
        ax.plot([n for n, _ in ys], [y for _, y in ys], "o", color=line.get_color(), alpha=0.6)
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(n) for n in xs])
    save_curve(fig, ax, "human Nr3D sentences trained on (ScanRefer alike; all of Sr3D)",
               f"Grounding vs amount of human language ({len(args.seeds)} seed(s); line: mean)", FIGURE)


if __name__ == "__main__":
    main()
