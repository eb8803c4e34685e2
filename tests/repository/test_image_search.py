"""Image queries: PnP on analytic matches, then held-out synthetic frames against a small index."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from scene3d.cli import main
from scene3d.geometry.camera import intrinsics, look_at
from scene3d.repository import (
    AddOutcome,
    Landmarks,
    LocalizationError,
    SceneIndex,
    estimate_pose,
    pose_error,
)
from scene3d.repository.localize import (
    _tracks,
    colour_histogram,
    query_descriptor,
    scene_landmarks,
    view_descriptor,
)
from scene3d.structures import Frame
from scene3d.synth import SynthConfig, generate_dataset, generate_scene
from scene3d.teachers import label_embedding_teacher

K = intrinsics(320, 240, 75.0)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_pnp_recovers_a_known_pose_among_outliers():
    rng = np.random.default_rng(0)
    pose = look_at(np.array([1.0, -2.0, 1.5]), np.array([0.5, 1.0, 0.8]))
    cam = np.stack([rng.uniform(-1.5, 1.5, 120), rng.uniform(-1.0, 1.0, 120), rng.uniform(1.5, 5.0, 120)], 1)
    world = cam @ pose[:3, :3].T + pose[:3, 3]
    uv = (cam[:, :2] / cam[:, 2:]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    desc = _unit(rng.random((120, 128)))
    landmarks = Landmarks.quantise(world, desc)
    # 40 % of the image keypoints are elsewhere (outliers that still match their landmark)
    uv[:48] = rng.uniform([0, 0], [320, 240], (48, 2))
    est = estimate_pose(uv, _unit(desc + 0.01 * rng.standard_normal(desc.shape)), landmarks, K)
    assert est is not None and est.matches == 120 and 70 <= est.inliers <= 80
    t_err, r_err = pose_error(est.cam_to_world, pose)
    assert t_err < 1e-3 and r_err < 0.05
    # unrelated descriptors: the ratio test keeps too few to trust, no pose
    assert estimate_pose(uv, _unit(rng.random((120, 128))), landmarks, K) is None
    # degenerate landmarks (all on one line, or one point) with random pixels: no pose, no solver crash
    for xyz in (np.linspace([0, 0, 3], [1, 2, 3], 120), np.tile([0.0, 0.0, 3.0], (120, 1))):
        flat = Landmarks(xyz.astype(np.float32), landmarks.descriptors)
        assert estimate_pose(rng.uniform([0, 0], [320, 240], (120, 2)), desc, flat, K) is None


def test_guided_matching_polishes_the_pose():
    """Image keypoints with 0.3 px noise; a quarter of the landmarks 2 px off (tracks that merged
    neighbouring points: RANSAC's 3 px keeps them, the 1 px polish drops them); a third of the true
    matches fail the ratio test (a twin landmark elsewhere with the same descriptor) and come back
    through the pose."""
    rng = np.random.default_rng(3)
    pose = look_at(np.array([0.5, -2.5, 1.4]), np.array([0.2, 1.0, 0.9]))
    cam = np.stack([rng.uniform(-1.5, 1.5, 200), rng.uniform(-1.0, 1.0, 200), rng.uniform(1.5, 5.0, 200)], 1)
    uv = (cam[:, :2] / cam[:, 2:]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    off = cam.copy()
    off[:50, :2] += 2.0 * off[:50, 2:] / K[0, 0] * _unit(rng.standard_normal((50, 2)))  # 2 px off
    world = np.concatenate([off, cam[140:] + [0.0, 0.0, 4.0]]) @ pose[:3, :3].T + pose[:3, 3]  # + 60 twins behind
    desc = _unit(rng.random((200, 128)))
    landmarks = Landmarks.quantise(world, np.concatenate([desc, desc[140:]]))
    noisy_uv = uv + 0.3 * rng.standard_normal(uv.shape)
    plain = estimate_pose(noisy_uv, desc, landmarks, K, refine_rounds=0)
    polished = estimate_pose(noisy_uv, desc, landmarks, K)
    assert plain is not None and polished is not None and plain.matches == polished.matches == 140
    t_plain, _ = pose_error(plain.cam_to_world, pose)
    t_polished, r_polished = pose_error(polished.cam_to_world, pose)
    assert t_polished < 0.5 * t_plain and t_polished < 2e-3 and r_polished < 0.05, (t_plain, t_polished)


def test_landmarks_are_stored_compactly_and_tracks_merge_views():
    rng = np.random.default_rng(1)
    xyz = rng.uniform([-3, -4, 0], [3, 4, 2.5], (50, 3))
    lm = Landmarks.quantise(xyz, _unit(rng.random((50, 128))))
    positions, descriptors = lm.to_bytes()
    assert len(positions) == 12 + 6 * 50 and len(descriptors) == 64 * 50  # 70 bytes a landmark
    back = Landmarks.from_bytes(positions, descriptors)
    assert np.abs(back.xyz - xyz).max() <= 0.0005 + 1e-6 and np.array_equal(back.descriptors, lm.descriptors)
    assert lm.descriptors.max() <= 15
    with pytest.raises(LocalizationError, match="65 m"):
        Landmarks.quantise(np.array([[0.0, 0, 0], [70.0, 0, 0]]), _unit(rng.random((2, 128)))).to_bytes()
    # a point seen by views 0, 1 and 2 (1 cm apart, close descriptors) is one landmark at their mean;
    # a point seen by view 0 alone, and a neighbour of the first with another descriptor, are dropped
    d = _unit(rng.random((2, 128)) * np.repeat(np.eye(2), 64, axis=1))  # disjoint supports: distance sqrt(2)
    pts = np.array([[1.0, 1, 1], [1.01, 1, 1], [1.0, 1.01, 1], [2.0, 2, 2], [1.0, 1, 1.01]])
    unit = np.stack([d[0], _unit(d[:1] + 0.02)[0], d[0], d[0], d[1]])
    tracks = _tracks(pts, unit, np.array([0, 1, 2, 0, 1]), radius=0.03, max_distance=0.8, min_views=2)
    assert len(tracks) == 1 and np.allclose(tracks.xyz[0], [1.0033, 1.0033, 1.0], atol=1e-3)
    assert len(_tracks(pts, unit, np.array([0, 1, 2, 0, 1]), radius=0.03, max_distance=0.8, min_views=1)) == 3


def test_colour_histogram_ignores_shading():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = (200, 40, 40)
    rgb[:, 4:] = (40, 40, 200)
    darker = (rgb * 0.6).astype(np.uint8)
    assert colour_histogram(rgb) @ colour_histogram(darker) > 0.99
    assert colour_histogram(rgb) @ colour_histogram(rgb[:, :4]) < 0.8


@pytest.fixture(scope="module")
def image_index(tmp_path_factory):
    """Three rooms with 12 frames; rooms 0 and 1 indexed without frames 0 and 6 (the queries)."""
    cfg = SynthConfig(num_points=4000, num_frames=12)
    scenes = [generate_scene(f"room{i}", 40 + i, config=cfg) for i in range(3)]
    teacher = label_embedding_teacher()
    index = SceneIndex(tmp_path_factory.mktemp("image") / "idx")
    for s in scenes[:2]:
        assert index.add(dataclasses.replace(s, frames=[f for i, f in enumerate(s.frames) if i % 6]),
                         teacher=teacher) is AddOutcome.ADDED
    return index, scenes, teacher


def test_held_out_frames_find_their_room_and_pose(image_index):
    index, scenes, teacher = image_index
    for scene in scenes[:2]:
        for held in (0, 6):
            frame = scene.frames[held]
            hits = index.search_image(frame, teacher, context=scene)
            assert hits and hits[0].key == scene.scene_id, (scene.scene_id, held, hits)
            assert query_descriptor(teacher, scene, frame) @ view_descriptor(teacher(scene, frame), frame.rgb) > 0.999
            t_err, r_err = pose_error(hits[0].cam_to_world, frame.cam_to_world)
            assert t_err < 0.1 and r_err < 2.0 and hits[0].inliers >= 12
            assert all(h.inliers <= hits[0].inliers for h in hits)
    # a room that is not indexed, and an image without keypoints: documented empty results
    assert index.search_image(scenes[2].frames[0], teacher, context=scenes[2]) == []
    grey = Frame("grey", np.full((240, 320, 3), 128, np.uint8), K, np.eye(4), instance=np.full((240, 320), -1, np.int32))
    assert index.search_image(grey, teacher) == []


def test_verification_stops_at_a_confident_hit(image_index, monkeypatch):
    import scene3d.repository.index as index_module

    index, scenes, teacher = image_index
    calls = []
    real = index_module.estimate_pose
    monkeypatch.setattr(index_module, "estimate_pose", lambda *a, **k: calls.append(1) or real(*a, **k))
    frame = scenes[0].frames[0]
    hit = index.search_image(frame, teacher, context=scenes[0])[0]
    assert hit.key == "room0" and hit.inliers >= 20 and len(calls) == 1
    calls.clear()
    assert index.search_image(frame, teacher, context=scenes[0], stop_inliers=0)[0].key == "room0"
    assert len(calls) == 2  # both indexed rooms verified


def test_image_part_errors_and_delete(image_index, tmp_path):
    _, scenes, teacher = image_index
    plain = SceneIndex(tmp_path / "plain")
    plain.add(scenes[0])
    with pytest.raises(LocalizationError, match="no scene is indexed for image queries"):
        plain.search_image(scenes[0].frames[0], teacher, context=scenes[0])
    no_depth = dataclasses.replace(scenes[2], frames=[dataclasses.replace(f, depth=None) for f in scenes[2].frames])
    with pytest.raises(LocalizationError, match="frames with depth"):
        plain.add(no_depth, teacher=teacher)
    assert len(plain) == 1  # the failed add wrote nothing
    # landmarks and views go with the scene
    copy = SceneIndex(tmp_path / "copy")
    copy.add(dataclasses.replace(scenes[1], frames=scenes[1].frames[1:4]), teacher=teacher)
    assert len(copy.landmarks("room1")) == len(scene_landmarks(dataclasses.replace(scenes[1],
                                                                                   frames=scenes[1].frames[1:4])))
    assert copy.view_vectors()[0] == ["room1"] * 3
    frames = scenes[1].frames[1:4]
    assert copy.add(dataclasses.replace(scenes[1], frames=frames), teacher=teacher) is AddOutcome.UNCHANGED
    darker = dataclasses.replace(frames[0], rgb=frames[0].rgb // 2)
    assert copy.add(dataclasses.replace(scenes[1], frames=[darker, *frames[1:]]),
                    teacher=teacher) is AddOutcome.UPDATED  # new pixels
    assert copy.delete("room1")
    assert copy.view_vectors()[0] == []
    with pytest.raises(LocalizationError, match="no landmarks"):
        copy.landmarks("room1")


def test_cli_index_and_search_an_image(tmp_path, capsys):
    from tests.teachers.test_hf_vision import _save

    _save("dinov2", tmp_path / "dino")
    data, idx = tmp_path / "data", tmp_path / "idx"
    generate_dataset(data, 2, seed=3, config=SynthConfig(num_points=2000, num_frames=8), progress=False)
    teacher = f"teacher={{_target_:scene3d.teachers.hf_vision_teacher,path:{tmp_path / 'dino'},downscale:8}}"
    assert main(["index", f"data={data}", f"index={idx}", "images=true", teacher]) == 0
    frames = data / "synth_s3_00001" / "frames"  # seed 3: the ids carry the seed
    (tmp_path / "K.txt").write_text("\n".join(" ".join(map(str, row)) for row in K))
    out = tmp_path / "hits.json"
    assert main(["search", f"index={idx}", f"image={frames / 'rgb' / '0003.png'}",
                 f"intrinsics={tmp_path / 'K.txt'}", f"out={out}"]) == 0
    hits = json.loads(out.read_text())
    truth = {f["name"]: f for f in json.loads((frames / "frames.json").read_text())["frames"]}["0003"]
    assert hits[0]["scene_id"] == "synth_s3_00001" and hits[0]["key"] == "synth_s3/synth_s3_00001"
    assert hits[0]["path"] == str(data.resolve() / "synth_s3_00001")
    assert pose_error(np.array(hits[0]["cam_to_world"]), np.array(truth["cam_to_world"]))[0] < 0.05
    # one teacher per index; a camera is needed
    assert main(["index", f"data={data}", f"index={idx}", "images=true",
                 "teacher={_target_:scene3d.teachers.label_embedding_teacher}"]) != 0
    assert "one teacher per index" in capsys.readouterr().err
    assert main(["search", f"index={idx}", f"image={frames / 'rgb' / '0003.png'}"]) != 0
    assert "needs its camera" in capsys.readouterr().err
