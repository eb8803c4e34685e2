"""SceneVerse's scaling claim on real held-out scenes: grounding accuracy against the amount of
generated language on real layouts.

    python benchmarks/bm_grounding_scaling.py --corpus runs/corpus_real/language.jsonl \
        --held-out runs/real_held_out.txt --out runs/scaling [--scenes 0 90 270 all] \
        [--pretrain-steps 2500] [--finetune-steps 1000] [--done all=runs/F]

The recipe is the measured best one (pretrain on generated language, then fine-tune on the
mixture). For each point, the generated corpus (``data_tools/build_language_corpus.py``) is
cut to the records of its first K scenes (sorted ids); ``scene3d train-grounding`` pretrains on
that cut alone, then fine-tunes from it (``init=``) on the cut plus the real train-side
language (Nr3D, ScanRefer, Sr3D) with the same mixture every time: generated referrals drawn
40 % of the time, Nr3D, ScanRefer and Sr3D 20 % each. K = 0 trains on the real language alone
from scratch for as many steps as the other points take in all. ``--done K=RUN`` uses a
finished fine-tuned run for a point. Runs resume and are skipped when done (they share one
text cache). Then every run is scored on the held-out scenes (``bm_grounding_real.py``);
prints the table and writes ``docs/figures/grounding_scaling.png``.
About 12 min per 2500 steps on one thread of the 2-core dev box.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from bm_grounding_real import FILES, OBJECTS, accuracy_rows, load  # noqa: E402

from scene3d.grounding import Grounder  # noqa: E402

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "grounding_scaling.png"
SHARE = {"generated_real": 0.4, "nr3d": 0.2, "scanrefer": 0.2, "sr3d": 0.2}


def cut(corpus: Path, scenes: int | None, out: Path) -> tuple[Path, int]:
    """The corpus records of its first ``scenes`` scenes (None: all); (file, referral count)."""
    lines = corpus.read_text().splitlines()
    ids = sorted({json.loads(line)["scene_id"] for line in lines})
    keep = set(ids if scenes is None else ids[:scenes])
    path = out / f"corpus_{'all' if scenes is None else scenes}.jsonl"
    kept = [line for line in lines if json.loads(line)["scene_id"] in keep]
    if not path.is_file():
        path.write_text("".join(line + "\n" for line in kept))
    return path, sum(1 for line in kept if json.loads(line).get("kind", "referral") == "referral")


def weights(counts: Counter) -> dict[str, float]:
    """Per-referral sampling weights giving each source its SHARE (renormalised over present sources)."""
    present = {k: v for k, v in SHARE.items() if counts.get(k)}
    return {k: present[k] / counts[k] * 1000 for k in present}


def source_counts(files: list[Path], held: set[str]) -> Counter:
    from scene3d.grounding.real import read_language

    return Counter(u.source for f in files for u in read_language(f) if u.scene_id not in held and u.kind == "referral")


def save_curve(fig: plt.Figure, ax: plt.Axes, xlabel: str, title: str, path: Path) -> None:
    """Label a held-out accuracy curve and write it to ``path`` (PNG)."""
    ax.minorticks_off()   # a log axis's minor labels would overprint the points' own
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy on held-out real scenes (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")


def train(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "scene3d.cli", "train-grounding", *args]
    print("$ scene3d train-grounding " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--held-out", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/scaling"))
    ap.add_argument("--scenes", nargs="+", default=["0", "90", "270", "all"])
    ap.add_argument("--pretrain-steps", type=int, default=2500)
    ap.add_argument("--finetune-steps", type=int, default=1000)
    ap.add_argument("--done", nargs="*", default=[], help="K=RUN: a finished run for a point")
    ap.add_argument("--text-cache", type=Path, default=None)
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    real = [f for files in FILES.values() for f in files]
    held = {line.strip() for line in args.held_out.read_text().splitlines() if line.strip()}
    base = source_counts(real, held)
    done = dict(item.split("=", 1) for item in args.done)
    cache = f"text_cache={args.text_cache or out / 'text_cache'}"
    common = [f"real.objects={OBJECTS}", f"real.held_out={args.held_out.resolve()}", cache]
    points = []
    for k in args.scenes:
        scenes = None if k == "all" else int(k)
        files, counts = list(real), Counter(base)
        steps = [f"steps={args.pretrain_steps + args.finetune_steps}"]
        if scenes != 0:
            path, n = cut(args.corpus, scenes, out)
            files.append(path)
            counts["generated_real"] = n
            pre = out / f"pretrain_{k}"
            if k not in done:
                train([f"out={pre}", f"steps={args.pretrain_steps}", f"real.language=[{path}]", *common])
            steps = [f"steps={args.finetune_steps}", "warmup=50", f"init={pre}"]
        run = Path(done[k]) if k in done else out / f"run_{k}"
        if k not in done:
            train([f"out={run}", *steps, f"real.language=[{','.join(str(f) for f in files)}]", *common,
                   *[f"source_weights.{s}={w:.6g}" for s, w in weights(counts).items()]])
        points.append((counts.get("generated_real", 0), run))
    _, data = load(args.held_out)
    print("| generated referrals | Nr3D overall (easy / hard) | Sr3D overall (easy / hard) | "
          "ScanRefer Acc@0.25 (unique / multiple) |\n|---|---|---|---|")
    rows = [(n, accuracy_rows(f"{n:,}", Grounder.from_checkpoint(run), data)) for n, run in points]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [max(n, 1000) for n, _ in rows]
    for name, key, metric in (("Nr3D", "referit3d", "overall"), ("Sr3D", "referit3d", "overall"),
                              ("ScanRefer Acc@0.25", "scanrefer", "acc25")):
        lang = name.split()[0]
        ax.plot(xs, [100 * r[lang][key][metric] for _, r in rows], "o-", label=name)
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{n // 1000}k" if n else "0" for n, _ in rows])
    save_curve(fig, ax, "generated referrals on real train layouts", "Grounding vs amount of generated language", FIGURE)


if __name__ == "__main__":
    main()
