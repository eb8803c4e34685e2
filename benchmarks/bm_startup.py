"""Cold start of ``ground`` and ``search`` (text and image queries), each in fresh processes.

Every measurement is a new Python process (what a user's first command pays) and reports:
import time (torch, transformers, then the scene3d modules the command needs), model-load time
(the packaged grounding model + MiniLM; the scene index, MiniLM and the FAISS indexes; the image
teacher), the first query and the median of the later ones. Each command runs three ways: with
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
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = ["the chair next to the table", "the lamp on the desk", "the bed by the window", "the sofa facing the tv",
           "the plant in the corner", "the wardrobe near the door", "the table in the middle of the room",
           "the nightstand beside the bed", "the picture above the sofa", "the rug under the table",
           "the trash can near the door"]
SEARCHES = ["a bedroom with two lamps beside the bed", "a kitchen with a table and four chairs", "a living room with a sofa",
            "an office with a desk and a chair", "a room with a wardrobe", "a bathroom", "two plants and a tv",
            "a bed next to a nightstand", "a red sofa", "a dining room", "a room with a rug"]
MODES = ("ground", "search-text", "search-image")
CACHES = ("off", "empty", "filled")


def child(mode: str, data: Path, index_path: Path, queries: int) -> dict:
    """Run in the measured process (fresh): phase times in seconds."""
    t0 = time.perf_counter()
    import torch
    t_torch = time.perf_counter()
    import transformers  # noqa: F401
    from transformers import AutoModel  # noqa: F401  (the lazy module's real import)
    t_tf = time.perf_counter()
    from scene3d.runtime import configure_threads

    configure_threads()
    if mode == "ground":
        from scene3d.grounding import Grounder
        from scene3d.io import list_scene_folders, load_scene
    else:
        from scene3d.io import list_scene_folders, load_scene
        from scene3d.repository import SceneIndex
        from scene3d.structures import Frame
    t_imp = time.perf_counter()
    times = []
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
        index.embedder.encoder    # what the first query would load: MiniLM, the FAISS indexes
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
        teacher = instantiate(json.loads(index.get_info("image_teacher")))
        index.faiss_index("views")
        t_load = time.perf_counter()
        frames = [f for folder in list_scene_folders(data)[:queries] for f in load_scene(folder, mesh=False).frames[:1]]
        t_data = time.perf_counter()
        for f in frames:
            s = time.perf_counter()
            index.search_image(Frame(f.name, f.rgb, f.K, __import__("numpy").eye(4)), teacher)
            times.append(time.perf_counter() - s)
    return {"import_torch": t_torch - t0, "import_transformers": t_tf - t_torch, "import_scene3d": t_imp - t_tf,
            "load": t_load - t_imp, "data": t_data - t_load, "first": times[0],
            "later_median": statistics.median(times[1:]) if len(times) > 1 else float("nan"),
            "threads": torch.get_num_threads()}


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
    ap.add_argument("--child", choices=MODES)
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
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            for cache in CACHES:
                for r in range(args.repeats):
                    folder = {"off": "off", "empty": str(Path(tmp) / f"{mode}-{r}"), "filled": str(Path(tmp) / mode)}
                    if cache == "filled" and r == 0:
                        run_child(mode, folder["filled"], args)   # fill it
                    rows.setdefault((mode, cache), []).append(run_child(mode, folder[cache], args))
                    if mode in cli:
                        if cache == "filled" and r == 0:
                            run_cli(cli[mode], str(Path(tmp) / f"cli-{mode}"))
                        target = folder[cache] if cache != "filled" else str(Path(tmp) / f"cli-{mode}")
                        if cache == "empty":
                            target = str(Path(tmp) / f"cli-{mode}-{r}")
                        walls.setdefault((mode, cache), []).append(run_cli(cli[mode], target))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n| command | cache | import torch | import transformers | import scene3d | load | first query | "
          "later query (median) | CLI wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (mode, cache), got in rows.items():
        med = {k: statistics.median(g[k] for g in got) for k in got[0] if k != "threads"}
        wall = f"{statistics.median(walls[mode, cache]):.2f} s" if (mode, cache) in walls else "-"
        print(f"| {mode} | {cache} | {med['import_torch']:.2f} s | {med['import_transformers']:.2f} s | "
              f"{med['import_scene3d']:.2f} s | {med['load']:.2f} s | {med['first'] * 1000:.0f} ms | "
              f"{med['later_median'] * 1000:.0f} ms | {wall} |")
    print(f"\n(medians of {args.repeats} fresh processes each; {args.queries} queries per process; "
          f"torch threads {rows[MODES[0], 'off'][0]['threads']})")


if __name__ == "__main__":
    main()
