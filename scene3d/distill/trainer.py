"""ConDense-style pretraining of the 3D student from a 2D teacher, on the shared training loop."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scene3d.distill.fusion import fuse_teacher
from scene3d.distill.losses import FEATURE_LOSSES, FeatureLoss, point_target_loss, projection_loss, render_losses
from scene3d.distill.student import (
    DistillStudent,
    StudentConfig,
    StudentInput,
    floor_turn,
    student_input,
    turned_scene,
)
from scene3d.distill.views import OCCLUSION, DistillDataError, Views, scene_views
from scene3d.errors import ConfigError, SceneFormatError
from scene3d.io.atomic import atomic_write_text
from scene3d.structures import Scene
from scene3d.teachers import Teacher, build_teacher
from scene3d.train import Checkpointer, LoopConfig, TrainState, resolve_device, run_training
from scene3d.train.precision import resolve_precision

AUGMENTATIONS = ("square", "any")
"""The kinds of ``DistillConfig.augment_kind``."""
TARGETS = ("view", "fused")
MEMBERS_FILE = "members.json"
"""A run of several students (:mod:`scene3d.distill.members`) lists them in this file."""
"""What the projection branch pulls the student's point features towards (``DistillConfig.target``)."""


@dataclass
class DistillConfig:
    """Losses of one training item (a scene and a few of its views).

    The total is ``w_feature * rendered-feature cosine + w_depth * rendered-depth L1 (m) +
    w_projection * point-projection cosine``; a zero weight skips that branch entirely
    (``w_feature = w_depth = 0`` is the OpenScene-style projection-only baseline).
    """

    w_feature: float = 1.0
    """Weight of the ray-marched feature consistency (cosine)."""
    w_depth: float = 0.1
    """Weight of the ray-marched depth L1 (metres)."""
    w_projection: float = 0.0
    """Weight of the direct point-projection cosine."""
    views_per_item: int = 2
    """Frames drawn per scene and step."""
    num_rays: int = 2048
    """Rays per scene and step (pixels drawn over the chosen views)."""
    num_samples: int = 256
    """Candidate bins per ray over the grid's box (occupied ones are kept)."""
    projection_points: int = 8192
    """Points drawn per scene and step for the projection loss."""
    tolerance: float = 0.05
    """Visibility depth-test tolerance, metres."""
    occlusion: str = "depth"
    """Visibility test of the projection loss (``scene3d.distill.OCCLUSION``): ``depth`` (the
    frame's depth map, or the point z-buffer of the room for frames without one), ``zbuffer``
    (always the point z-buffer; sensor depth unused) or ``none`` (no test: occluded points get the
    occluder's feature)."""
    feature_loss: str = "cosine"
    """How student and teacher features are compared (``scene3d.distill.FeatureLoss``): ``cosine``;
    ``text``: contrastive over the class-name embeddings of ``classes``; ``batch``: contrastive over
    teacher features of the same step."""
    temperature: float = 0.07
    """Temperature of the contrastive losses."""
    num_anchors: int = 1024
    """Teacher features drawn as anchors per loss call (``feature_loss=batch``)."""
    balance: bool = False
    """Weight each pair by the inverse frequency of the teacher's class (nearest of ``classes``) in the step."""
    classes: tuple[str, ...] | None = None
    """Class names whose text embeddings (``teacher.embed_text``) serve ``text`` and ``balance``;
    None = every object label of the training scenes (names only: no point labels are used)."""
    augment: bool = False
    """Show the student one of the room's 8 symmetries of the floor plane per step (rotations by
    multiples of 90 degrees about the vertical axis through the centre of the points' xy box, each
    with or without a mirror), drawn from the step's generator; the teacher side stays in the world
    frame. Projection loss only (a mirrored camera is not a camera)."""
    augment_kind: str = "square"
    """Which turns ``augment`` draws: ``square`` = the 8 symmetries above (each room voxelised once
    per symmetry and cached); ``any`` = a rotation by an angle uniform in [0, 360) degrees about the
    same axis, mirrored with probability 1/2, and scaled by a factor uniform in
    ``[1 - augment_scale, 1 + augment_scale]`` about (the xy centre, the lowest point) (the room is
    voxelised anew every step)."""
    augment_scale: float = 0.0
    """``augment_kind=any``: the half-width of the scale jitter (0 = no scaling, 0.1 = +-10 %)."""
    cache_views: bool = False
    """Keep every training frame's teacher map after its first use (on the student's device) instead
    of running the teacher again each step: the same numbers, without the teacher's cost per step,
    at ``frames x H' x W' x (D + 2) x 4`` bytes per scene (about 45 MB for 6 frames of 80 x 60 with
    384-d features). Off for data sets whose maps do not fit in memory."""
    target: str = "view"
    """The projection branch's target: ``view`` = the teacher's feature at the point's pixel in each
    of the step's ``views_per_item`` views (one corrupted view per pair); ``fused`` = the teacher
    fused over all of the room's frames (:func:`scene3d.distill.fuse_teacher`, computed once per room
    when the task is built; the mean over views averages out per-view class swaps), at
    ``projection_points`` points drawn among those a frame sees (OpenScene's 3D distillation target)."""

    def __post_init__(self) -> None:
        if self.classes is not None:
            self.classes = tuple(self.classes)
        if min(self.w_feature, self.w_depth, self.w_projection) < 0:
            raise ValueError("DistillConfig: loss weights must be >= 0")
        if self.occlusion not in OCCLUSION:
            raise ValueError(f"DistillConfig.occlusion must be one of {OCCLUSION}, got {self.occlusion!r}")
        if self.feature_loss not in FEATURE_LOSSES:
            raise ValueError(f"DistillConfig.feature_loss must be one of {FEATURE_LOSSES}, got {self.feature_loss!r}")
        if self.w_feature + self.w_depth + self.w_projection == 0:
            raise ValueError("DistillConfig: every loss weight is 0; nothing to train")
        if self.target not in TARGETS:
            raise ValueError(f"DistillConfig.target must be one of {TARGETS}, got {self.target!r}")
        if self.augment_kind not in AUGMENTATIONS:
            raise ValueError(f"DistillConfig.augment_kind must be one of {AUGMENTATIONS}, got {self.augment_kind!r}")
        if not 0 <= self.augment_scale < 1:
            raise ValueError(f"DistillConfig.augment_scale must be in [0, 1), got {self.augment_scale}")
        if self.augment and self.w_feature + self.w_depth > 0:
            raise ValueError("DistillConfig: augment=true works with the projection loss only (w_feature=w_depth=0); "
                             "set augment=false for the ray-marched losses")


def feature_loss(config: DistillConfig, teacher: Teacher, scenes: list[Scene]) -> FeatureLoss:
    """The :class:`FeatureLoss` of ``config``, with the class-name embeddings when it needs them.

    Raises:
        DistillDataError: the loss needs class names and neither ``config.classes`` nor the scenes have any.
        TeacherError: the teacher has no text space (e.g. DINOv2) and the loss needs one.
    """
    classes = None
    if config.feature_loss == "text" or config.balance:
        names = config.classes or tuple(sorted({o.label for s in scenes for o in s.objects}))
        if not names:
            raise DistillDataError(f"feature_loss={config.feature_loss} balance={config.balance} needs class names: "
                                   "set distill.classes=[...] (the scenes have no object labels)")
        classes = teacher.embed_text(list(names))
    return FeatureLoss(kind=config.feature_loss, temperature=config.temperature, classes=classes,
                       num_anchors=config.num_anchors, balance=config.balance)


def plane_symmetry(index: int) -> np.ndarray:
    """``(2, 2)`` float32 matrix of symmetry ``index`` in ``0..7`` of the square in the floor plane:
    a rotation by ``(index % 4) * 90`` degrees, after a mirror ``x -> -x`` when ``index >= 4``."""
    if not 0 <= index < 8:
        raise ValueError(f"plane_symmetry: index must be in 0..7, got {index}")
    rot = np.linalg.matrix_power(np.array([[0, -1], [1, 0]], dtype=np.float32), index % 4)
    return rot @ np.diag([-1, 1]).astype(np.float32) if index >= 4 else rot


class DistillTask:
    """The training task (``scene3d.train.TrainTask``): item = scene; voxelised once, views drawn per step.

    Args:
        scenes: training scenes, each with frames.
        teacher: the 2D teacher.
        voxel_size: the student's voxel edge, metres.
        config: the losses.
        normals: feed point normals to the student (``StudentConfig.normals``).
        device: the student's device: the voxelised scenes live there, and each step's teacher
            views are moved there (the teacher runs where it was built). Random draws are made on
            the CPU generator of the step, so they are the same on any device.

    Raises:
        DistillDataError: no scenes, or a scene without frames or points (or normals, if ``normals``).
    """

    def __init__(self, scenes: list[Scene], teacher: Teacher, voxel_size: float, config: DistillConfig,
                 normals: bool = False, device: torch.device | str = "cpu"):
        if not scenes:
            raise DistillDataError("no training scenes")
        for s in scenes:
            if not s.frames:
                raise DistillDataError(f"scene {s.scene_id} has no frames: pretraining needs posed frames "
                                       "(scene3d generate num_frames>0, or import-scannet with_frames=true)")
            if s.num_points == 0:
                raise DistillDataError(f"scene {s.scene_id} has no points")
            if normals and s.normals is None:
                raise DistillDataError(f"scene {s.scene_id} has no point normals, but the student takes them "
                                       "(student.normals=true)")
        self.scenes, self.teacher, self.config, self.device = scenes, teacher, config, torch.device(device)
        self.inputs: list[StudentInput] = [student_input(s, voxel_size, normals).to(self.device) for s in scenes]
        self.voxel_size, self.normals = voxel_size, normals
        self._augmented: dict[tuple[int, int], StudentInput] = {}
        self._views: dict[int, Views] = {}
        self.fused: list[tuple[torch.Tensor, torch.Tensor]] = []
        """``target=fused``: per scene, the ``(S,)`` int64 indices of the points a frame sees and their
        ``(S, D)`` float16 fused teacher features (half precision: 24 rooms of 60k points keep ~0.6 GB)."""
        if config.target == "fused" and config.w_projection > 0:
            for s in scenes:
                fused = fuse_teacher(s, teacher, config.tolerance)
                seen = (fused.views_seen > 0).nonzero().flatten()
                if seen.numel() == 0:
                    raise DistillDataError(f"scene {s.scene_id}: no frame sees any of its points, nothing to fuse")
                self.fused.append((seen.to(self.device), fused.features[seen].half().to(self.device)))
        loss = feature_loss(config, teacher, scenes)
        self.feature_loss = replace(loss, classes=None if loss.classes is None else loss.classes.to(self.device))

    micro_batch = 1
    """One scene per backward pass: a scene's voxels and rendered views are the memory peak."""

    def draw(self, rng: np.random.Generator, size: int) -> list[int]:
        """The step's scenes: ``size`` indices drawn uniformly (with replacement)."""
        return rng.integers(len(self.scenes), size=size).tolist()

    def augmented_input(self, item: int, symmetry: int) -> StudentInput:
        """The student's input for scene ``item`` seen through floor-plane symmetry ``symmetry`` in
        ``0..7`` (:func:`plane_symmetry`; 0 = as is), voxelised on first use and cached."""
        if symmetry == 0:
            return self.inputs[item]
        key = (item, symmetry)
        if key not in self._augmented:
            self._augmented[key] = self._turned_input(item, plane_symmetry(symmetry))
        return self._augmented[key]

    def _turned_input(self, item: int, matrix: np.ndarray, scale: float = 1.0) -> StudentInput:
        """The student's input for scene ``item`` under :func:`turned_scene` ``(matrix, scale)``."""
        return student_input(turned_scene(self.scenes[item], matrix, scale), self.voxel_size,
                             self.normals).to(self.device)

    def random_input(self, item: int, generator: torch.Generator) -> StudentInput:
        """The student's input for scene ``item`` under a random turn of kind ``config.augment_kind``
        (``square``: :meth:`augmented_input`; ``any``: any angle, a mirror half the time, the scale
        jitter), drawn from ``generator``."""
        if self.config.augment_kind == "square":
            return self.augmented_input(item, int(torch.randint(8, (1,), generator=generator)))
        angle, mirror, u = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
        return self._turned_input(item, floor_turn(2 * np.pi * angle, mirror < 0.5),
                                  1.0 + self.config.augment_scale * (2 * u - 1))

    def views(self, item: int, frames: list[int]) -> Views:
        """The teacher's views ``frames`` of scene ``item`` on the task's device (from the cache
        with ``config.cache_views``, filled with all of the scene's frames on first use)."""
        if not self.config.cache_views:
            return scene_views(self.scenes[item], self.teacher, frames).to(self.device)
        if item not in self._views:
            self._views[item] = scene_views(self.scenes[item], self.teacher).to(self.device)
        return self._views[item].select(frames)

    def losses(self, model: nn.Module, batch: list[int], positions: list[int],
               generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The losses of scene ``batch[positions[0]]`` (one position per pass)."""
        item = batch[positions[0]]
        cfg, scene, x = self.config, self.scenes[item], self.inputs[item]
        if cfg.augment:
            x = self.random_input(item, generator)
        render = cfg.w_feature > 0 or cfg.w_depth > 0
        fused = cfg.target == "fused" and cfg.w_projection > 0
        if render or not fused:
            frames = sorted(torch.randperm(len(scene.frames), generator=generator)[:cfg.views_per_item].tolist())
            views = self.views(item, frames)
        out = model(x, density=render)
        parts: dict[str, torch.Tensor] = {}
        total = out.hidden.new_zeros(())
        if render:
            r = render_losses(out, views, cfg.num_rays, cfg.num_samples, generator, self.feature_loss)
            parts["render_feature"], parts["render_depth"] = r.feature, r.depth
            total = total + cfg.w_feature * r.feature + cfg.w_depth * r.depth
        if fused:
            seen, target = self.fused[item]
            parts["projection"] = point_target_loss(out, x.points[seen], target, cfg.projection_points, generator,
                                                    self.feature_loss)
            total = total + cfg.w_projection * parts["projection"]
        elif cfg.w_projection > 0:
            parts["projection"] = projection_loss(out, views, self.inputs[item].points, cfg.tolerance,
                                                  cfg.projection_points, generator, self.feature_loss, x.points,
                                                  cfg.occlusion)
            total = total + cfg.w_projection * parts["projection"]
        parts["loss"] = total
        return parts


def pretrain(scenes: list[Scene], teacher: Teacher, out_dir: str | Path, student: StudentConfig | None = None,
             distill: DistillConfig | None = None, loop: LoopConfig | None = None, progress: bool = True,
             notes: dict | None = None, device: str = "auto", precision: str = "auto") -> DistillStudent:
    """Distil ``teacher`` into a new student on ``scenes`` (or resume the run in ``out_dir``).

    Writes ``out_dir/config.json`` and, through :func:`scene3d.train.run_training`, checkpoints
    (each carries the student config, so :func:`load_student` needs nothing else, and the training
    class names: ``distill.classes``, else every object label of ``scenes``), ``metrics.csv``
    and ``metrics.png``. Launch under torchrun for DDP.

    Args:
        scenes: training scenes with frames.
        teacher: the 2D teacher; the student's feature width is ``teacher.dim``.
        out_dir: the run folder.
        student / distill / loop: settings (defaults if None).
        notes: JSON-able extra notes kept in ``config.json`` and the checkpoints (e.g. the teacher's config).
        device: ``auto`` (this process's GPU when CUDA is available, else the CPU), ``cpu``, ``cuda``
            or ``cuda:N`` (:func:`scene3d.train.resolve_device`); under torchrun each rank its
            ``LOCAL_RANK`` GPU and nccl, gloo on the CPU.
        precision: ``auto`` (bf16 autocast on a GPU with bf16, fp32 on the CPU), ``fp32``, ``bf16``
            or ``fp16`` (:mod:`scene3d.train.precision`).

    Returns:
        The trained student (on ``device``, eval mode).

    Raises:
        ConfigError: an unknown or unavailable ``device`` or ``precision``.
    """
    at = resolve_device(device)
    amp = resolve_precision(precision, at)
    student = student or StudentConfig()
    student = StudentConfig(**{**asdict(student), "feature_dim": teacher.dim})
    distill, loop = distill or DistillConfig(), loop or LoopConfig()
    task = DistillTask(scenes, teacher, student.voxel_size, distill, student.normals, device=at)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = list(distill.classes or sorted({o.label for s in scenes for o in s.objects}))
    record = {"student": asdict(student), "distill": asdict(distill), "loop": asdict(loop), "notes": notes or {},
              "device": str(at), "precision": amp.name, "classes": classes}
    if int(os.environ.get("RANK", "0")) == 0:   # torchrun: rank 0 writes
        atomic_write_text(out_dir / "config.json", json.dumps(record, indent=1))
    torch.manual_seed(loop.seed)
    model = DistillStudent(student).to(at)   # initialised on the CPU: the same weights on any device
    density_unused = distill.w_feature == 0 and distill.w_depth == 0  # projection-only: no rendering
    run_training(model, task, loop, out_dir, extra_state={"student": asdict(student), "notes": notes or {}, "classes": classes},
                 progress=progress, device=at, find_unused_parameters=density_unused, precision=amp.name)
    return model.eval()


def load_student(path: str | Path, device: torch.device | str = "cpu") -> tuple[DistillStudent, TrainState]:
    """A trained student, on ``device`` (a torch device) in eval mode, from a run folder (its latest
    checkpoint) or one checkpoint folder (``step_*``).

    Raises:
        SceneFormatError: no checkpoint there, or one without a student config.
    """
    path = Path(path)
    if (path / MEMBERS_FILE).is_file():
        raise SceneFormatError(path, "a run of several students (members.json): load them with load_students, "
                                     "or one member with its folder member_<i>")
    if (path / "state.json").is_file():
        folder = path
    else:
        folder = Checkpointer(path / "checkpoints").latest() or Checkpointer(path).latest()
        if folder is None:
            raise SceneFormatError(path, "no checkpoint here: pass a pretrain run folder or a checkpoint step_* folder")
    try:
        extra = json.loads((folder / "state.json").read_text())["train_state"]["extra"]
        config = StudentConfig(**extra["student"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise SceneFormatError(folder / "state.json", f"not a distillation checkpoint ({exc})") from None
    model = DistillStudent(config)
    state = Checkpointer(folder.parent).load(model, path=folder, restore_rng=False)
    return model.to(device).eval(), state


def run_teacher(state: TrainState, teacher: dict | None = None) -> Teacher:
    """The teacher of the config ``teacher`` (``{_target_: ...}``), else the one ``scene3d pretrain``
    recorded in the run's ``state``: the model whose text space the student's features live in.

    Raises:
        ConfigError: neither is there, or it cannot be built (:func:`build_teacher`).
    """
    config = teacher if teacher is not None else state.extra.get("notes", {}).get("teacher")
    if config is None:
        raise ConfigError("the run records no teacher; pass teacher={_target_: ...}")
    return build_teacher(config)


@torch.no_grad()
def point_features(model: DistillStudent | list[DistillStudent], scene: Scene, turns: int = 1) -> torch.Tensor:
    """``(N, D)`` float32 student features at every point of ``scene`` (frames not needed), eval mode,
    computed on the model's device and returned on the CPU.

    ``turns > 1`` votes over that many equal turns of the scene about the vertical (test-time
    augmentation; ``turns`` forward passes): the mean of the unit features of each turn. ``turns = 1``
    returns the raw features of the scene as it is. A list of several students (e.g. seeds of one
    recipe, distilled from the same teacher) gives the mean of their unit features.

    Raises:
        ValueError: ``turns < 1`` or an empty list of students.
    """
    if turns < 1:
        raise ValueError(f"point_features: turns must be >= 1, got {turns}")
    if isinstance(model, list):
        if not model:
            raise ValueError("point_features: no students given")
        if len(model) == 1:
            return point_features(model[0], scene, turns)
        feats = [torch.nn.functional.normalize(point_features(m, scene, turns), dim=-1) for m in model]
        return torch.stack(feats).mean(dim=0)
    model.eval()
    device = next(model.parameters()).device
    total = None
    for k in range(turns):
        turned = scene if k == 0 else turned_scene(scene, floor_turn(2 * np.pi * k / turns))
        x = student_input(turned, model.config.voxel_size, model.config.normals).to(device)
        feats = model(x, density=False).point_features(x.points)
        if turns == 1:
            return feats.cpu()
        feats = torch.nn.functional.normalize(feats, dim=-1)
        total = feats if total is None else total + feats
    return (total / turns).cpu()
