"""Cold start of ``ground`` and ``search`` (text and image queries), each in fresh processes.

Every measurement is a new Python process (what a user's first command pays) and reports:
import time (torch, then the scene3d modules the command needs, transformers among them where
they import it; torch alone and then transformers alone are also timed in processes of their
own), model-load time (the packaged grounding model + MiniLM; the scene index, MiniLM and the
FAISS indexes; the image teacher and the view index: the label teacher loads MiniLM only when
a class name is not in the cache, inside the first query), the first query and the median of
the later ones. Each command runs three ways: with
the text-embedding cache off (``SCENE3D_CACHE_DIR=off``), on an empty cache (the run that writes
it) and on the cache that run wrote. The peer of every number is the same command without the
cache, measured in the same run. The command-line wall time of ``scene3d ground`` and ``scene3d
search`` (one query each) is measured the same ways. 1 torch thread throughout.

    python benchmarks/bm_startup.py --data <scenes root> --index <scene index, images=true> [--repeats 3]

e.g. the demo's rooms: ``scene3d generate num_scenes=12 out=D`` then ``scene3d index data=D
index=I images=true``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

QUERIES = ["the chair next to the table", "the lamp on the desk", "the bed by the window", "the sofa facing the tv",
           "the plant in the corner", "the wardrobe near the door", "the table in the middle of the room",
           "the nightstand beside the bed", "the picture above the sofa", "the rug under the table",
           "the trash can near the door"]
SEARCHES = ["a bedroom with two lamps beside the bed", "a kitchen with a table and four chairs", "a living room with a sofa",
            "an office with a desk and a chair", "a room with a wardrobe", "a bathroom", "two plants and a tv",
            "a bed next to a nightstand", "a red sofa", "a dining room", "a room with a rug"]
MODES = ("ground", "search-text", "search-image")   # and "imports": torch, then transformers
CACHES = ("off", "empty", "filled")


def child(mode: str, data: Path, index_path: Path, queries: int) -> dict:
    """Run in the measured process (fresh): phase times in seconds."""
    t0 = time.perf_counter()
    import torch
    t_torch = time.perf_counter()
    if mode == "imports":   # transformers' own import time, after torch's
        from transformers import AutoModel, AutoTokenizer  # noqa: F401  (the lazy module's real imports)
        return {"import_torch": t_torch - t0, "import_transformers": time.perf_counter() - t_torch}
    t_tf = t_torch
    from scene3d.runtime import configure_threads

    configure_threads()
    if mode == "ground":
        from scene3d.grounding import Grounder
        from scene3d.io import list_scene_folders, load_scene
    else:
        from scene3d.io import list_scene_folders, load_scene
        from scene3d.repository import SceneIndex
    t_imp = time.perf_counter()
    times, extra = [], {}
    if mode == "ground":
        model = Grounder.from_checkpoint()
        t_load = time.perf_counter()
        scene = load_scene(list_scene_folders(data)[0], frames=False, mesh=False)
        t_data = time.perf_counter()
        for q in QUERIES[:queries]:
            s = time.perf_counter()
            model.ground(scene, q)
            times.append(time.perf_counter() - s)
    elif mode == "search-text":
        index = SceneIndex(index_path)
        assert index.embedder.encoder is not None   # what the first query would load: MiniLM, the FAISS indexes
        index.faiss_index("scenes")
        index.fact_index()
        t_load = t_data = time.perf_counter()
        for q in SEARCHES[:queries]:
            s = time.perf_counter()
            index.search_text(q)
            times.append(time.perf_counter() - s)
    else:
        from hydra.utils import instantiate

        index = SceneIndex(index_path)
        teacher = instantiate(json.loads(index.get_info("image_teacher")))   # MiniLM: loaded on first use
        index.faiss_index("views")
        t_load = time.perf_counter()
        scenes = [load_scene(folder, mesh=False) for folder in list_scene_folders(data)[:queries]]
        t_data = time.perf_counter()
        for scene in scenes:   # its first frame, pose unknown; the label teacher reads its instance mask
            frame = dataclasses.replace(scene.frames[0], cam_to_world=np.eye(4), depth=None)
            s = time.perf_counter()
            index.search_image(frame, teacher, context=scene)
            times.append(time.perf_counter() - s)
        extra["minilm_loaded"] = teacher._encoder is not None
    return {"import_torch": t_torch - t0, "import_scene3d": t_imp - t_tf,
            "load": t_load - t_imp, "data": t_data - t_load, "first": times[0],
            "later_median": statistics.median(times[1:]) if len(times) > 1 else float("nan"),
            "threads": torch.get_num_threads(), "transformers_imported": "transformers.models" in sys.modules, **extra}


def run_child(mode: str, cache: str, args) -> dict:
    env = {**os.environ, "SCENE3D_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--data", str(args.data), "--index",
                          str(args.index), "--queries", str(args.queries)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_cli(cli_args: list[str], cache: str) -> float:
    env = {**os.environ, "SCENE3D_CACHE_DIR": cache}
    env.pop("OMP_NUM_THREADS", None)   # the product's own thread policy
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scene3d.cli", *cli_args], env=env, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=10, help="queries per process (the first is reported apart)")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per mode and cache state")
    ap.add_argument("--child", choices=(*MODES, "imports"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.index, args.queries)))
        return
    from scene3d.io import list_scene_folders

    scene = list_scene_folders(args.data)[0]
    cli = {"ground": ["ground", f"scene={scene}", f"query={QUERIES[0]}"],
           "search-text": ["search", f"index={args.index}", f"query={SEARCHES[0]}"]}
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows, walls = {}, {}
    imports = [run_child("imports", "off", args) for _ in range(args.repeats)]
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            filled = str(Path(tmp) / f"{mode}-filled")
            run_child(mode, filled, args)                      # fills it
            for r in range(args.repeats):
                for cache in CACHES:
                    folder = {"off": "off", "empty": str(Path(tmp) / f"{mode}-empty-{r}"), "filled": filled}[cache]
                    rows.setdefault((mode, cache), []).append(run_child(mode, folder, args))
                    if mode in cli:
                        folder = folder if cache != "empty" else str(Path(tmp) / f"{mode}-cli-empty-{r}")
                        walls.setdefault((mode, cache), []).append(run_cli(cli[mode], folder))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\nimport torch alone: {statistics.median(g['import_torch'] for g in imports):.2f} s; then transformers "
          f"(AutoModel, AutoTokenizer): {statistics.median(g['import_transformers'] for g in imports):.2f} s")
    print("\n| command | cache | import torch | import scene3d modules | load | first query | later query (median) "
          "| CLI wall, 1 query | transformers imported | MiniLM loaded |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (mode, cache), got in rows.items():
        med = {k: statistics.median(g[k] for g in got) for k in got[0] if isinstance(got[0][k], float)}
        wall = f"{statistics.median(walls[mode, cache]):.2f} s" if (mode, cache) in walls else "-"
        print(f"| {mode} | {cache} | {med['import_torch']:.2f} s | {med['import_scene3d']:.2f} s | {med['load']:.2f} s | "
              f"{med['first'] * 1000:.0f} ms | {med['later_median'] * 1000:.0f} ms | {wall} | "
              f"{got[0]['transformers_imported']} | {got[0].get('minilm_loaded', True)} |")
    print(f"\n(medians of {args.repeats} fresh processes each; {args.queries} queries per process; "
          f"torch threads {rows[MODES[0], 'off'][0]['threads']})")


if __name__ == "__main__":
    main()
