"""Commands of the scene repository: ``index``, ``search``, ``duplicates``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from scene3d.config import need
from scene3d.errors import ConfigError


def cmd_index(cfg: DictConfig) -> int:
    from tqdm import tqdm

    from scene3d.io import list_scene_folders, load_scene, read_utterances_jsonl
    from scene3d.repository import AddOutcome, SceneIndex, dataset_collection
    from scene3d.train import resolve_device

    data = Path(need(cfg, "data"))
    collection = str(cfg.collection) if cfg.collection else dataset_collection(data)
    folders = list_scene_folders(data)
    captions = {}
    if cfg.captions and (data / "language.jsonl").is_file():
        captions = {u.scene_id: u.text for u in read_utterances_jsonl(data / "language.jsonl")
                    if u.kind == "scene_caption"}
    index = SceneIndex(need(cfg, "index"), device=resolve_device(cfg.device))
    images = cfg.images if cfg.images is not None else index.get_info("image_teacher") is not None
    teacher = _image_teacher(cfg, index, create=True) if images else None
    t0 = time.perf_counter()
    outcomes = dict.fromkeys(AddOutcome, 0)
    text_only: list[str] = []
    for folder in tqdm(folders, desc="index", unit="scene"):
        scene = load_scene(folder, frames=images, mesh=False)
        scene_teacher = teacher if teacher is not None and any(f.depth is not None for f in scene.frames) else None
        if teacher is not None and scene_teacher is None:
            text_only.append(scene.scene_id)
        outcomes[index.add(scene, captions.get(scene.scene_id), teacher=scene_teacher, collection=collection,
                           path=folder, replace=bool(cfg.replace))] += 1
    index.faiss_index()
    if teacher is not None:
        index.faiss_index("views")
    print(f"index: {', '.join(f'{n} {o.value}' for o, n in outcomes.items())}; {len(index)} scenes in {cfg.index} "
          f"(this folder as collection {collection!r}: keys {collection}/<scene id>; "
          f"{time.perf_counter() - t0:.1f} s)")
    if text_only:
        print(f"index: {len(text_only)} scenes have no frames with depth and cannot answer image queries "
              f"(e.g. {', '.join(text_only[:3])})")
    return 0


def _image_teacher(cfg: DictConfig, index, create: bool):
    """The teacher of the index's image part: the one it was built with (recorded in the index),
    or, when ``create``, ``cfg.teacher`` (default: the label teacher) recorded for a new one; a
    different ``cfg.teacher`` is an error (its view descriptors would not compare)."""
    import json

    from scene3d.teachers import build_teacher

    stored = index.get_info("image_teacher")
    given = OmegaConf.to_container(cfg.teacher, resolve=True) if cfg.get("teacher") else None
    if stored is None:
        if not create:
            raise ConfigError(f"{index.path} has no image part: build it with scene3d index ... images=true")
        spec = given or {"_target_": "scene3d.teachers.label_embedding_teacher"}
        index.set_info("image_teacher", json.dumps(spec, sort_keys=True))
        return build_teacher(spec)
    if given is not None and json.loads(stored) != given:
        raise ConfigError(f"{index.path} was indexed for images with teacher {stored}, not {json.dumps(given)}: "
                          "use one teacher per index (or a new index)")
    return build_teacher(json.loads(stored))


def _open_index(cfg: DictConfig, device: str = "cpu"):
    from scene3d.repository import SceneIndex
    from scene3d.train import resolve_device

    path = Path(need(cfg, "index"))
    if not (path / "index.sqlite").is_file():
        raise ConfigError(f"{path} is not a scene index (no index.sqlite); build one with scene3d index")
    return SceneIndex(path, device=resolve_device(device))


def cmd_search(cfg: DictConfig) -> int:
    import dataclasses
    import json

    from scene3d.io import load_scene
    from scene3d.io.atomic import atomic_write_text

    index = _open_index(cfg, device=str(cfg.device))
    t0 = time.perf_counter()
    if cfg.image:  # an RGB image: view-descriptor shortlist + SIFT matching + PnP RANSAC
        frame = _query_frame(cfg)
        teacher = _image_teacher(cfg, index, create=False)
        t0 = time.perf_counter()
        hits = index.search_image(frame, teacher, top_k=cfg.top_k)
        print(f"search: scenes that {cfg.image} shows, over {len(index)} scenes "
              f"({(time.perf_counter() - t0) * 1000:.0f} ms)")
        if not hits:
            print("  no indexed scene matches the image (too few keypoints agree on a camera pose)")
        records = index.records([h.key for h in hits])
        for rank, h in enumerate(hits, 1):
            x, y, z = h.cam_to_world[:3, 3]
            print(_format_hit(rank, records[h.key], f"inliers {h.inliers}/{h.matches}, descriptor {h.score:.3f}, "
                                                    f"camera at ({x:.2f}, {y:.2f}, {z:.2f}) m"))
        record = [{**_record_json(records[h.key]), "score": h.score, "inliers": h.inliers, "matches": h.matches,
                   "cam_to_world": h.cam_to_world.tolist()} for h in hits]
    elif cfg.scene:  # same place: descriptor shortlist + object registration
        scene = load_scene(cfg.scene, frames=False, mesh=False)
        matches = index.search_scene(scene, top_k=cfg.top_k)
        print(f"search: scenes that are the same place as {scene.scene_id} over {len(index)} scenes "
              f"({(time.perf_counter() - t0) * 1000:.0f} ms)")
        records = index.records([m.key for m in matches])
        for rank, m in enumerate(matches, 1):
            print(_format_hit(rank, records[m.key], f"overlap {m.overlap:.2f}, descriptor {m.score:.3f}, "
                                                    f"{len(m.matches)} objects matched"))
        record = [{**_record_json(records[m.key]), "overlap": m.overlap, "score": m.score,
                   "transform": m.transform.tolist(), "matches": m.matches} for m in matches]
    else:
        hits = index.search_text(str(need(cfg, "query")), top_k=cfg.top_k)
        print(f"search: {cfg.query!r} over {len(index)} scenes ({(time.perf_counter() - t0) * 1000:.0f} ms)")
        for rank, h in enumerate(hits, 1):
            matched = ", ".join(f"{label} #{oid}" for oid, label in zip(h.object_ids, h.labels))
            print(_format_hit(rank, h, f"score {h.score:.3f}" + (f", matched {matched}" if matched else "")))
        record = [dataclasses.asdict(h) for h in hits]
    if cfg.out:
        atomic_write_text(Path(cfg.out), json.dumps(record, indent=1))
        print(f"result: {cfg.out}")
    return 0


def _format_hit(rank: int, record, evidence: str) -> str:
    """Three lines of a search hit (a SceneRecord or SearchHit: key, room_type, caption, path): rank, key,
    room type and the evidence; its caption on one line; its folder."""
    caption = " ".join((record.caption or "").split())
    caption = caption if len(caption) <= 100 else caption[:99] + "…"
    return (f"  {rank}. {record.key}  [{record.room_type or 'room'}]  {evidence}\n"
            f"     {caption or '(no caption)'}\n"
            f"     {record.path or '(no path: indexed without a folder)'}")


def _record_json(record) -> dict:
    return {"key": record.key, "scene_id": record.scene_id, "source": record.source, "path": record.path,
            "room_type": record.room_type, "caption": record.caption}


def _query_frame(cfg: DictConfig):
    """The query image of ``scene3d search image=...`` as a Frame, with ``intrinsics=`` or ``hfov=``."""
    from scene3d.geometry.camera import intrinsics
    from scene3d.io import read_intrinsics
    from scene3d.io.images import read_image
    from scene3d.structures import Frame

    rgb = read_image(Path(cfg.image), mode="rgb")
    h, w = rgb.shape[:2]
    if cfg.intrinsics:
        K = read_intrinsics(Path(cfg.intrinsics))
    elif cfg.hfov:
        K = intrinsics(w, h, float(cfg.hfov))
    else:
        raise ConfigError("an image query needs its camera: intrinsics=<3x3 or 4x4 K file> or hfov=<degrees>")
    return Frame(Path(cfg.image).stem or "query", rgb, K.astype(np.float64), np.eye(4))


def cmd_duplicates(cfg: DictConfig) -> int:
    import json

    from scene3d.io.atomic import atomic_write_text

    index = _open_index(cfg)
    pairs = index.duplicates(min_overlap=cfg.min_overlap)
    print(f"duplicates: {len(pairs)} pairs of scenes that are the same place among {len(index)} scenes")
    for sid, m in pairs:
        print(f"  {sid:<20} = {m.key:<20} overlap {m.overlap:.2f} ({len(m.matches)} objects)")
    if cfg.out:
        atomic_write_text(Path(cfg.out), json.dumps(
            [{"a": sid, "b": m.key, "overlap": m.overlap, "transform_a_to_b": m.transform.tolist()}
             for sid, m in pairs], indent=1))
        print(f"report: {cfg.out}")
    return 0
