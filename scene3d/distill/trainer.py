"""ConDense-style pretraining of the 3D student from a 2D teacher, on the shared training loop."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scene3d.distill.losses import FEATURE_LOSSES, FeatureLoss, projection_loss, render_losses
from scene3d.distill.student import (
    DistillStudent,
    StudentConfig,
    StudentInput,
    student_input,
)
from scene3d.distill.views import OCCLUSION, DistillDataError, scene_views
from scene3d.errors import ConfigError, SceneFormatError
from scene3d.io.atomic import atomic_write_text
from scene3d.structures import Scene
from scene3d.teachers import Teacher
from scene3d.train import Checkpointer, LoopConfig, TrainState, resolve_device, run_training
from scene3d.train.precision import resolve_precision


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
        if self.augment and self.w_feature + self.w_depth > 0:
            raise ValueError("DistillConfig: augment=true works with the projection loss only (w_feature=w_depth=0)")


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
            scene = self.scenes[item]
            xy = scene.points[:, :2]
            centre = (xy.min(axis=0) + xy.max(axis=0)) / 2
            m = plane_symmetry(symmetry)  # (2, 2)
            points = scene.points.copy()
            points[:, :2] = (xy - centre) @ m.T + centre
            normals = None
            if scene.normals is not None:
                normals = scene.normals.copy()
                normals[:, :2] = scene.normals[:, :2] @ m.T
            self._augmented[key] = student_input(replace(scene, points=points, normals=normals), self.voxel_size,
                                                 self.normals).to(self.device)
        return self._augmented[key]

    def losses(self, model: nn.Module, batch: list[int], positions: list[int],
               generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The losses of scene ``batch[positions[0]]`` (one position per pass)."""
        item = batch[positions[0]]
        cfg, scene, x = self.config, self.scenes[item], self.inputs[item]
        if cfg.augment:
            x = self.augmented_input(item, int(torch.randint(8, (1,), generator=generator)))
        frames = sorted(torch.randperm(len(scene.frames), generator=generator)[:cfg.views_per_item].tolist())
        views = scene_views(scene, self.teacher, frames).to(self.device)
        render = cfg.w_feature > 0 or cfg.w_depth > 0
        out = model(x, density=render)
        parts: dict[str, torch.Tensor] = {}
        total = out.features.new_zeros(())
        if render:
            r = render_losses(out, views, cfg.num_rays, cfg.num_samples, generator, self.feature_loss)
            parts["render_feature"], parts["render_depth"] = r.feature, r.depth
            total = total + cfg.w_feature * r.feature + cfg.w_depth * r.depth
        if cfg.w_projection > 0:
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
        ConfigError: neither is there.
    """
    from hydra.utils import instantiate

    config = teacher if teacher is not None else state.extra.get("notes", {}).get("teacher")
    if config is None:
        raise ConfigError("the run records no teacher; pass teacher={_target_: ...}")
    return instantiate(config)


@torch.no_grad()
def point_features(model: DistillStudent, scene: Scene) -> torch.Tensor:
    """``(N, D)`` float32 student features at every point of ``scene`` (frames not needed), eval mode,
    computed on the model's device and returned on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    x = student_input(scene, model.config.voxel_size, model.config.normals).to(device)
    return model(x, density=False).point_features(x.points).cpu()
