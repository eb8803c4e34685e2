"""Pretraining: wiring, exact resume (in process and after kill -9), DDP == one process, the commands."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from scene3d.cli import main
from scene3d.distill import (
    DistillConfig,
    DistillDataError,
    DistillTask,
    load_student,
    point_features,
    pretrain,
)
from scene3d.errors import SceneFormatError
from scene3d.train import LoopConfig
from tests.distill._helpers import (
    DDP_MODES,
    TINY_STUDENT,
    TINY_STUDENT_OVERRIDES,
    ddp_worker,
    fake_teacher,
    save_tiny_dataset,
    tiny_scenes,
)

REPO = Path(__file__).resolve().parents[2]
FAST = DistillConfig(num_rays=256, num_samples=128, projection_points=1024, w_projection=0.5)


@pytest.fixture(scope="module")
def scenes():
    return tiny_scenes()


def _losses(run: Path) -> list[tuple[float, float]]:
    with open(run / "metrics.csv", newline="") as f:
        return [(float(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def test_pretrain_then_features_without_frames(tmp_path, scenes):
    teacher = fake_teacher()
    pretrain(scenes, teacher, tmp_path / "run", TINY_STUDENT, FAST, LoopConfig(steps=3, batch_size=2, checkpoint_every=2),
             progress=False)
    assert [s for s, _ in _losses(tmp_path / "run")] == [1.0, 2.0, 3.0]
    assert (tmp_path / "run" / "metrics.png").is_file()
    model, state = load_student(tmp_path / "run")
    assert state.step == 3 and model.config.feature_dim == teacher.dim
    bare = replace(scenes[0], frames=[])
    feats = point_features(model, bare)
    assert feats.shape == (bare.num_points, teacher.dim) and torch.isfinite(feats).all()
    again, _ = load_student(tmp_path / "run" / "checkpoints" / "step_00000002")
    assert not torch.equal(point_features(again, bare), feats)
    with pytest.raises(SceneFormatError, match="no checkpoint"):
        load_student(tmp_path)


def test_projection_only_and_bad_input(tmp_path, scenes):
    proj = DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=1024)
    task = DistillTask(scenes, fake_teacher(), 0.1, proj)
    from scene3d.distill import DistillStudent

    parts = task.losses(DistillStudent(replace(TINY_STUDENT, feature_dim=16)), [0], [0], torch.Generator().manual_seed(0))
    assert set(parts) == {"projection", "loss"}
    with pytest.raises(DistillDataError, match="no frames"):
        DistillTask([replace(scenes[0], frames=[])], fake_teacher(), 0.1, proj)
    with pytest.raises(ValueError, match="every loss weight is 0"):
        DistillConfig(w_feature=0, w_depth=0, w_projection=0)
    with pytest.raises(ValueError, match="occlusion must be one of"):
        DistillConfig(occlusion="rays")


@pytest.mark.parametrize("occlusion", ["zbuffer", "none"])
def test_projection_without_sensor_depth(scenes, occlusion):
    from scene3d.distill import DistillStudent

    nodepth = [replace(s, frames=[replace(f, depth=None) for f in s.frames]) for s in scenes]
    cfg = DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=1024, occlusion=occlusion)
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    loss = DistillTask(nodepth, fake_teacher(), 0.1, cfg).losses(model, [0], [0], torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    assert torch.isfinite(loss) and model.feature_head.weight.grad.abs().sum() > 0


def test_normals_input_is_the_voxel_mean_normal_and_trains(tmp_path, scenes):
    from scene3d.distill import student_input
    from scene3d.structures import Scene

    # two points in one 1 m voxel, one in another: the normal channels are the per-voxel means
    pts = np.array([[0.1, 0.1, 0.1], [0.2, 0.3, 0.4], [1.5, 0.5, 0.5]], dtype=np.float32)
    nrm = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    scene = Scene("n", points=pts, colors=np.zeros((3, 3), np.uint8), instance_ids=np.full(3, -1, np.int32), normals=nrm)
    x = student_input(scene, 1.0, normals=True)
    f = x.voxels.features  # (2, 7): RGB, height, normal; order the voxels by their mean height (0.15 m, 0.4 m)
    f = f[torch.argsort(f[:, 3])]
    torch.testing.assert_close(f[:, 3:], torch.tensor([[0.15, 0.5, 0.5, 0.0], [0.4, 0.0, 0.0, 1.0]]))
    assert student_input(scene, 1.0).voxels.features.shape == (2, 4)
    with pytest.raises(ValueError, match="no point normals"):
        student_input(replace(scene, normals=None), 1.0, normals=True)
    with pytest.raises(DistillDataError, match="no point normals"):
        DistillTask([replace(scenes[0], normals=None)], fake_teacher(), 0.1, FAST, normals=True)
    cfg = replace(TINY_STUDENT, normals=True)
    pretrain(scenes, fake_teacher(), tmp_path / "run", cfg, FAST, LoopConfig(steps=1, batch_size=1), progress=False)
    model, _ = load_student(tmp_path / "run")
    assert model.config.normals and model.config.in_channels == 7
    assert torch.isfinite(point_features(model, scenes[0])).all()


def test_turned_point_features_are_the_mean_unit_features_of_the_turned_scenes(scenes):
    from scene3d.distill import DistillStudent, floor_turn, student_input, turned_scene

    torch.manual_seed(0)
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=16)).eval()
    scene = scenes[0]

    def unit(s):
        x = student_input(s, model.config.voxel_size)
        with torch.no_grad():
            return torch.nn.functional.normalize(model(x, density=False).point_features(x.points), dim=-1)

    x = student_input(scene, model.config.voxel_size)
    with torch.no_grad():
        raw = model(x, density=False).point_features(x.points)
    torch.testing.assert_close(point_features(model, scene), raw)  # one turn: the raw features
    ref = (unit(scene) + unit(turned_scene(scene, floor_turn(np.pi / 2))) + unit(turned_scene(scene, floor_turn(np.pi)))
           + unit(turned_scene(scene, floor_turn(3 * np.pi / 2)))) / 4
    torch.testing.assert_close(point_features(model, scene, turns=4), ref)
    # a quarter turn about the xy-box centre keeps that centre and the point order; normals turn along
    turned = turned_scene(replace(scene, normals=np.tile(np.array([[1, 0, 0]], np.float32), (scene.num_points, 1))),
                          floor_turn(np.pi / 2))
    np.testing.assert_allclose(turned.normals[:, :2], np.tile([[0.0, 1.0]], (scene.num_points, 1)), atol=1e-6)
    box = lambda p: (p[:, :2].min(axis=0) + p[:, :2].max(axis=0)) / 2  # noqa: E731
    np.testing.assert_allclose(box(turned.points), box(scene.points), atol=1e-5)
    np.testing.assert_array_equal(turned.points[:, 2], scene.points[:, 2])
    with pytest.raises(ValueError, match="turns must be >= 1"):
        point_features(model, scene, turns=0)
    # several students: the mean of their unit features (one in a list: as alone)
    torch.manual_seed(1)
    other = DistillStudent(replace(TINY_STUDENT, feature_dim=16)).eval()
    unit = torch.nn.functional.normalize
    torch.testing.assert_close(point_features([model, other], scene, turns=2),
                               (unit(point_features(model, scene, 2), dim=-1) + unit(point_features(other, scene, 2), dim=-1)) / 2)
    torch.testing.assert_close(point_features([model], scene), raw)
    with pytest.raises(ValueError, match="no students"):
        point_features([], scene)


def test_superpoint_mean_by_hand():
    from scene3d.distill import superpoint_mean

    feats = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    groups = torch.tensor([0, 0, 1, 2, 1])
    # unit rows averaged per group; the zero row counts but adds nothing; a group of zeros stays zero
    expected = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.0], [0.0, 0.0], [0.5, 0.0]])
    torch.testing.assert_close(superpoint_mean(feats, groups), expected)
    with pytest.raises(ValueError, match="one index >= 0 per point"):
        superpoint_mean(feats, groups[:4])
    with pytest.raises(ValueError, match="one index >= 0 per point"):
        superpoint_mean(feats, torch.tensor([0, 0, -1, 1, 1]))


def test_plane_symmetries_are_the_eight_of_the_square():
    from scene3d.distill import plane_symmetry

    mats = [plane_symmetry(i) for i in range(8)]
    assert len({m.tobytes() for m in mats}) == 8
    for m in mats:
        np.testing.assert_array_equal(m @ m.T, np.eye(2))
    np.testing.assert_array_equal(mats[1] @ [1, 0], [0, 1])  # +90 degrees
    assert [round(float(np.linalg.det(m))) for m in mats] == [1, 1, 1, 1, -1, -1, -1, -1]
    with pytest.raises(ValueError, match="0..7"):
        plane_symmetry(8)


def test_augmented_projection_loss_reads_the_student_on_the_turned_room(scenes):
    from scene3d.distill import DistillStudent, plane_symmetry, projection_loss, scene_views

    cfg = DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=1024, augment=True)
    task = DistillTask(scenes, fake_teacher(), 0.1, cfg)
    torch.manual_seed(0)
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    got = task.losses(model, [0], [0], torch.Generator().manual_seed(5))["loss"]
    # reference: the same draws by hand
    g = torch.Generator().manual_seed(5)
    k = int(torch.randint(8, (1,), generator=g))
    assert k != 0  # a real turn (seed 5)
    frames = sorted(torch.randperm(len(scenes[0].frames), generator=g)[:cfg.views_per_item].tolist())
    x = task.augmented_input(0, k)
    xy = scenes[0].points[:, :2]
    centre = (xy.min(axis=0) + xy.max(axis=0)) / 2
    turned = torch.from_numpy((xy - centre) @ plane_symmetry(k).T + centre)
    torch.testing.assert_close(x.points[:, :2], turned)
    torch.testing.assert_close(x.points[:, 2], task.inputs[0].points[:, 2])
    want = projection_loss(model(x, density=False), scene_views(scenes[0], task.teacher, frames), task.inputs[0].points,
                           cfg.tolerance, cfg.projection_points, g, task.feature_loss, x.points)
    torch.testing.assert_close(got, want)
    assert task.augmented_input(0, 0) is task.inputs[0] and task.augmented_input(0, k) is x  # cached
    with pytest.raises(ValueError, match="projection loss only"):
        DistillConfig(augment=True)


def test_any_angle_augmentation_turns_mirrors_and_scales_the_room(scenes):
    from scene3d.distill import DistillStudent

    cfg = DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=512, augment=True,
                        augment_kind="any", augment_scale=0.2, target="fused")
    task = DistillTask(scenes, fake_teacher(), 0.1, cfg)
    pts = task.inputs[0].points.double()
    centre = torch.tensor([*(pts[:, :2].min(0).values + pts[:, :2].max(0).values) / 2, pts[:, 2].min()])
    seen_scales, dets = set(), set()
    for seed in range(6):
        angle, mirror, u = torch.rand(3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).tolist()
        x = task.random_input(0, torch.Generator().manual_seed(seed))
        got = x.points.double() - centre
        scale = 1 + 0.2 * (2 * u - 1)
        c, s = np.cos(2 * np.pi * angle), np.sin(2 * np.pi * angle)
        m = torch.tensor([[c, -s], [s, c]]) @ torch.diag(torch.tensor([-1.0 if mirror < 0.5 else 1.0, 1.0], dtype=torch.float64))
        want = torch.cat([(pts[:, :2] - centre[:2]) @ m.T, pts[:, 2:] - centre[2:]], 1) * scale
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
        assert x.voxels.num_points > 0 and x.points.shape == task.inputs[0].points.shape
        seen_scales.add(round(scale, 3))
        dets.add(round(float(torch.linalg.det(m))))
    assert len(seen_scales) == 6 and dets == {-1, 1}  # the draws do vary: scales, mirrored or not
    loss = task.losses(DistillStudent(replace(TINY_STUDENT, feature_dim=16)), [0], [0],
                       torch.Generator().manual_seed(0))["loss"]
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="augment_kind must be one of"):
        DistillConfig(augment_kind="cube")
    with pytest.raises(ValueError, match="augment_scale"):
        DistillConfig(augment_scale=1.5)


def test_cached_views_give_the_same_losses_without_running_the_teacher_again(scenes):
    from scene3d.distill import DistillStudent

    cfg = DistillConfig(w_feature=1, w_depth=0.1, w_projection=1, num_rays=256, num_samples=64, projection_points=512,
                        views_per_item=3)
    plain, cached = DistillTask(scenes, fake_teacher(), 0.1, cfg), DistillTask(scenes, fake_teacher(), 0.1,
                                                                               replace(cfg, cache_views=True))
    torch.manual_seed(0)
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    for step in range(2):
        a = plain.losses(model, [1], [0], torch.Generator().manual_seed(step))
        b = cached.losses(model, [1], [0], torch.Generator().manual_seed(step))
        assert set(a) == set(b) == {"render_feature", "render_depth", "projection", "loss"}
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
        if step == 0:
            cached.teacher = None  # the second step must not call it
    assert set(cached._views) == {1} and len(cached._views[1].cameras) == len(scenes[1].frames)


def test_fused_target_is_the_teacher_fused_over_all_views_at_seen_points(scenes):
    from scene3d.distill import DistillStudent, FeatureLoss, fuse_teacher, point_target_loss

    teacher = fake_teacher()
    cfg = DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=512, target="fused")
    task = DistillTask(scenes, teacher, 0.1, cfg)
    fused = fuse_teacher(scenes[1], teacher, cfg.tolerance)
    seen, target = task.fused[1]
    assert 0 < seen.numel() < scenes[1].num_points
    torch.testing.assert_close(seen, (fused.views_seen > 0).nonzero().flatten())
    torch.testing.assert_close(target.float(), fused.features[seen], atol=1e-3, rtol=0)
    torch.manual_seed(0)
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    calls = []
    task.teacher = lambda *a: calls.append(a)  # the per-step teacher is not run: targets are cached
    got = task.losses(model, [1], [0], torch.Generator().manual_seed(3))
    assert set(got) == {"projection", "loss"} and not calls
    out = model(task.inputs[1], density=False)
    want = point_target_loss(out, task.inputs[1].points[seen], target, 512, torch.Generator().manual_seed(3))
    torch.testing.assert_close(got["loss"], want)
    # a student whose feature at every point is its target costs 1 - cos = 0, the flipped one exactly 2
    class _Out:
        def __init__(self, sign):
            self.sign = sign

        def point_features(self, p):  # the point's index is its x coordinate
            return self.sign * target[p[:, 0].long()].float()

    index_points = torch.stack([torch.arange(seen.numel()).float(), torch.zeros(seen.numel()), torch.zeros(seen.numel())], 1)
    for sign, cost in ((1.0, 0.0), (-1.0, 2.0)):
        loss = point_target_loss(_Out(sign), index_points, target, 512, torch.Generator().manual_seed(3), FeatureLoss())
        torch.testing.assert_close(loss, torch.tensor(cost), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="target must be one of"):
        DistillConfig(target="mean")


def test_contrastive_task_embeds_the_training_labels(scenes):
    from scene3d.distill import DistillStudent

    teacher = fake_teacher()
    text = DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=1024, feature_loss="text",
                         balance=True)
    task = DistillTask(scenes, teacher, 0.1, text)
    names = sorted({o.label for s in scenes for o in s.objects})
    torch.testing.assert_close(task.feature_loss.classes, teacher.embed_text(names))
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=16))
    loss = task.losses(model, [0], [0], torch.Generator().manual_seed(0))["loss"]
    loss.backward()
    assert torch.isfinite(loss) and model.feature_head.weight.grad.abs().sum() > 0
    given = DistillTask(scenes, teacher, 0.1, replace(text, classes=["chair", "wall"]))
    torch.testing.assert_close(given.feature_loss.classes, teacher.embed_text(["chair", "wall"]))
    unlabelled = [replace(s, objects=[], instance_ids=np.full(s.num_points, -1, np.int32)) for s in scenes]
    with pytest.raises(DistillDataError, match="distill.classes"):
        DistillTask(unlabelled, teacher, 0.1, text)
    with pytest.raises(ValueError, match="feature_loss must be one of"):
        DistillConfig(feature_loss="l2")


class _Interrupted(Exception):
    pass


class _StopAfter(DistillTask):
    """The same task, interrupted (like a crash) at its ``stop_at_call + 1``-th item."""

    def __init__(self, base: DistillTask, stop_at_call: int):
        self.__dict__.update(base.__dict__)
        self.calls, self.stop = 0, stop_at_call

    def losses(self, model, batch, positions, generator):
        self.calls += 1
        if self.calls > self.stop:
            raise _Interrupted
        return super().losses(model, batch, positions, generator)


def test_resume_is_exact(tmp_path, scenes):
    from scene3d.distill import DistillStudent
    from scene3d.train import run_training

    teacher, loop = fake_teacher(), LoopConfig(steps=5, batch_size=1, checkpoint_every=2)
    cfg = replace(TINY_STUDENT, feature_dim=teacher.dim)

    def fresh():
        torch.manual_seed(0)
        return DistillStudent(cfg)

    task = DistillTask(scenes, teacher, cfg.voxel_size, FAST)
    straight = fresh()
    run_training(straight, task, loop, tmp_path / "a", progress=False)
    with pytest.raises(_Interrupted):
        run_training(fresh(), _StopAfter(task, 3), loop, tmp_path / "b", progress=False)  # dies in step 4
    resumed = fresh()
    run_training(resumed, task, loop, tmp_path / "b", progress=False)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["both", "projection"])
def test_two_process_ddp_matches_one_process(tmp_path, mode):
    """2 ranks x 1 scene (gloo, 127.0.0.1) give the loss curve of 1 process x 2 scenes."""
    import torch.multiprocessing as mp

    steps = 3
    mp.spawn(ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp"), steps, mode), nprocs=2, join=True)
    single_dir = tmp_path / "single"
    os.environ.pop("WORLD_SIZE", None)
    pretrain(tiny_scenes(), fake_teacher(), single_dir, TINY_STUDENT, DDP_MODES[mode],
             LoopConfig(steps=steps, batch_size=2, checkpoint_every=steps), progress=False, device="cpu")
    ddp, single = _losses(tmp_path / "ddp"), _losses(single_dir)
    assert [s for s, _ in ddp] == [s for s, _ in single] == [1.0, 2.0, 3.0]
    torch.testing.assert_close(torch.tensor([v for _, v in ddp]), torch.tensor([v for _, v in single]),
                               rtol=1e-4, atol=1e-5)
    a = load_file(str(tmp_path / "ddp" / "checkpoints" / f"step_{steps:08d}" / "model.safetensors"))
    b = load_file(str(single_dir / "checkpoints" / f"step_{steps:08d}" / "model.safetensors"))
    for k in a:
        if "running" not in k and "num_batches" not in k:  # batch-norm statistics are per rank in DDP
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)


def _pretrain_args(data: Path, out: Path, steps: int, every: int) -> list[str]:
    return ["pretrain", f"data={data}", f"out={out}", "split=null", "progress=false", "device=cpu",
            "members=1", "teacher._target_=tests.distill._helpers.fake_teacher", f"loop.steps={steps}", "loop.batch_size=1",
            f"loop.checkpoint_every={every}", "distill.num_rays=256", "distill.num_samples=128",
            *TINY_STUDENT_OVERRIDES]


def test_pretrain_and_features_commands(tmp_path, capsys):
    save_tiny_dataset(tmp_path / "data")
    assert main(_pretrain_args(tmp_path / "data", tmp_path / "run", 2, 1)) == 0
    assert "pretrain: one student on all 2 scenes of" in capsys.readouterr().out
    scene = tmp_path / "data" / "tiny_0"
    assert main(["features", f"scene={scene}", f"checkpoint={tmp_path / 'run'}", f"out={tmp_path / 'f'}",
                 "keypoints=8"]) == 0
    out = load_file(str(tmp_path / "f" / "features.safetensors"))
    assert out["point_features"].dtype == torch.float16 and out["point_features"].shape[1] == 16
    assert out["keypoint_indices"].numel() <= 8 and out["scene_descriptor"].shape == (32,)
    assert "keypoints" in capsys.readouterr().out
    assert main(["pretrain", f"data={tmp_path / 'data'}", f"out={tmp_path / 'x'}", "split=null",
                 "student.bogus=1"]) == 2
    assert "student" in capsys.readouterr().err
    # contradicting settings fail before any data is read (the default augments: projection only)
    assert main(["pretrain", f"data={tmp_path / 'no_data'}", f"out={tmp_path / 'x'}", "distill.w_feature=1",
                 "distill.w_projection=0"]) == 2
    assert "set augment=false for the ray-marched losses" in capsys.readouterr().err
    assert main(["features", f"scene={scene}", f"checkpoint={tmp_path / 'nothing'}", f"out={tmp_path / 'g'}"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    # the teacher recorded by pretrain is used again; fractions in [0, 1]
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 f"out={tmp_path / 'metrics.json'}"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["miou"]) == set(metrics["accuracy"]) == {"fused", "student", "ensemble"}
    assert all(0 <= v <= 1 for part in ("miou", "accuracy") for v in metrics[part].values())
    assert metrics["n_points"] == sum(s.num_points for s in tiny_scenes())  # every tiny point is labelled
    assert "ensemble" in capsys.readouterr().out
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 "ensemble=confidence", f"out={tmp_path / 'conf.json'}"]) == 0
    conf = json.loads((tmp_path / "conf.json").read_text())
    assert conf["ensemble_rule"] == "confidence" and conf["miou"]["fused"] == metrics["miou"]["fused"]
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 "turns=1", f"out={tmp_path / 'once.json'}"]) == 0
    once = json.loads((tmp_path / "once.json").read_text())
    assert metrics["turns"] == 8 and once["turns"] == 1 and once["miou"]["fused"] == metrics["miou"]["fused"]
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 "superpoints=true", f"out={tmp_path / 'sp.json'}"]) == 0
    sp = json.loads((tmp_path / "sp.json").read_text())
    assert sp["superpoints"] is True and metrics["superpoints"] is False and sp["n_points"] == metrics["n_points"]
    assert metrics["fused_weight"] == 0.5
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 "fused_weight=-1"]) == 2
    assert "fused_weight must be >= 0" in capsys.readouterr().err
    assert all(0 <= v <= 1 for v in sp["miou"].values())
    # a list of runs averages their students' unit features: two copies of one run score as the run
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint=[{tmp_path / 'run'},{tmp_path / 'run'}]",
                 "split=null", f"out={tmp_path / 'pair.json'}"]) == 0
    assert json.loads((tmp_path / "pair.json").read_text())["miou"] == metrics["miou"]
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", "checkpoint=[]", "split=null"]) == 2
    assert "names no pretrain run" in capsys.readouterr().err
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 "turns=0"]) == 2
    assert "turns must be an integer >= 1" in capsys.readouterr().err
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}", "split=null",
                 "ensemble=vote"]) == 2
    assert "ensemble=vote is not one of cosine, confidence, product" in capsys.readouterr().err
    assert main(["eval-segmentation", f"data={tmp_path / 'data'}", f"checkpoint={tmp_path / 'run'}",
                 "split=val"]) == 2
    assert "splits/val.txt: not found" in capsys.readouterr().err


def test_ensemble_is_the_clean_teacher_where_seen_and_the_student_elsewhere(scenes):
    from scene3d.distill import DistillStudent, fuse_teacher, zero_shot_features

    clean = fake_teacher(swap_prob=0, noise=0, blur_sigma=0, dropout=0)
    scene = scenes[0]
    classes = sorted({o.label for o in scene.objects})
    text = clean.embed_text(classes)
    torch.manual_seed(0)
    model = DistillStudent(replace(TINY_STUDENT, feature_dim=clean.dim))
    feats = zero_shot_features(scene, model, clean, text, rule="cosine")
    seen = fuse_teacher(scene, clean).views_seen > 0
    assert 0 < int(seen.sum()) < scene.num_points
    # a clean fused feature is a class embedding (max cosine 1): it wins wherever a view sees the point
    torch.testing.assert_close(feats["ensemble"][seen], feats["fused"][seen])
    unit = torch.nn.functional.normalize
    torch.testing.assert_close(feats["ensemble"][~seen], unit(feats["student"][~seen], dim=-1))
    product = zero_shot_features(scene, model, clean, text)["ensemble"]  # the default rule, the teacher at w = 0.5
    torch.testing.assert_close(product[seen], unit(0.5 * unit(feats["fused"][seen], dim=-1)
                                                   + unit(feats["student"][seen], dim=-1), dim=-1))
    torch.testing.assert_close(product[~seen], feats["ensemble"][~seen])


@pytest.mark.slow
def test_pretrain_survives_kill_9(tmp_path):
    """SIGKILL mid-run, run again: it completes, loses at most one checkpoint interval, ends bit-exact."""
    save_tiny_dataset(tmp_path / "data")
    steps, every = 24, 4
    cmd = [sys.executable, "-m", "scene3d.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd + _pretrain_args(tmp_path / "data", tmp_path / "run", steps, every), cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    latest = tmp_path / "run" / "checkpoints" / "latest"
    deadline = time.time() + 120
    while not (latest.is_file() and latest.read_text().strip() >= "step_00000008") and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(latest.read_text().strip()[5:])
    logged = max(s for s, _ in _losses(tmp_path / "run"))
    assert killed_at < steps and logged - killed_at <= every  # what the kill can cost
    again = subprocess.run(cmd + _pretrain_args(tmp_path / "data", tmp_path / "run", steps, every), cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert [s for s, _ in _losses(tmp_path / "run")] == [float(s) for s in range(1, steps + 1)]
    assert main(_pretrain_args(tmp_path / "data", tmp_path / "ref", steps, every)) == 0  # uninterrupted, in process
    assert _losses(tmp_path / "run") == _losses(tmp_path / "ref")
    a = load_file(str(tmp_path / "run" / "checkpoints" / f"step_{steps:08d}" / "model.safetensors"))
    b = load_file(str(tmp_path / "ref" / "checkpoints" / f"step_{steps:08d}" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
