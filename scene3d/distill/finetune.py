"""Downstream value of pretraining: closed-set 3D semantic segmentation fine-tuned from the student's
backbone (pretrained or randomly initialised), and linear probes on its frozen point features, with a
chosen fraction of the labelled points.

A room's input is always all of its points (voxelised by :func:`~scene3d.distill.student_input`);
only the supervision is thinned: :func:`keep_labels` keeps a seeded random ``fraction`` of the
labelled points of each room. Both models train on the shared loop (:func:`scene3d.train.run_training`)
through one task, :class:`SegmentationTask` (cross-entropy over a room's kept points).
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scene3d.distill.evaluate import point_classes
from scene3d.distill.student import DistillStudent, StudentConfig, StudentInput, student_input
from scene3d.models.sparse_unet import SparseUNet
from scene3d.sparse import devoxelize
from scene3d.structures import Scene
from scene3d.train import LoopConfig, run_training


def keep_labels(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """``(N,)`` int64 class per point with all but a random share of the labelled points set to -1.

    Keeps ``round(fraction * L)`` of the ``L`` labelled points (``labels >= 0``), at least one when
    ``L > 0``; which ones is drawn from ``seed`` alone (numpy's generator), so a (room, seed) pair
    always keeps the same points.

    Raises:
        ValueError: ``fraction`` not in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"keep_labels: fraction must be in (0, 1], got {fraction}")
    labelled = np.flatnonzero(labels.numpy() >= 0)
    n = max(1, round(fraction * len(labelled))) if len(labelled) else 0
    chosen = np.random.default_rng(seed).choice(labelled, size=n, replace=False)
    out = torch.full_like(labels, -1)
    out[chosen] = labels[chosen]
    return out


def labelled_rooms(scenes: list[Scene], classes: list[str], fraction: float, seed: int,
                   voxel_size: float, normals: bool = False) -> tuple[list[StudentInput], list[Tensor]]:
    """The supervision of fine-tuning: per room, the student's input on all of its points with
    ``points`` cut to the kept labelled ones, and their classes.

    Room ``i`` keeps labels by :func:`keep_labels` with the seed ``(seed, i)`` (a SeedSequence).
    Rooms left with no labelled point (of a class in ``classes``) are dropped.

    Returns:
        (inputs: ``StudentInput`` with voxels of all points and ``points (M_i, 3)`` metres;
        targets: ``(M_i,)`` int64 class indices into ``classes``).

    Raises:
        ValueError: no room has a labelled point of ``classes``.
    """
    inputs, targets = [], []
    for i, scene in enumerate(scenes):
        room_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        kept = keep_labels(point_classes(scene, classes), fraction, room_seed)
        idx = torch.nonzero(kept >= 0)[:, 0]
        if idx.numel() == 0:
            continue
        x = student_input(scene, voxel_size, normals)
        inputs.append(StudentInput(x.voxels, x.points[idx]))
        targets.append(kept[idx])
    if not inputs:
        raise ValueError(f"labelled_rooms: none of the {len(scenes)} rooms has a point labelled with one of "
                         f"the {len(classes)} classes")
    return inputs, targets


class SegmentationNet(nn.Module):
    """The student's SparseUNet with a linear class head: ``(P, K)`` logits at the input's points.

    Args:
        config: the backbone's sizes (``StudentConfig``; ``feature_dim`` and ``density_bias`` unused).
        num_classes: ``K``.
        backbone: initial backbone weights (copied); None = random initialisation (seed torch first).
    """

    def __init__(self, config: StudentConfig, num_classes: int, backbone: SparseUNet | None = None):
        super().__init__()
        self.config = config
        self.backbone = copy.deepcopy(backbone) if backbone is not None else SparseUNet(config.unet())
        self.head = nn.Linear(config.hidden, num_classes)

    def forward(self, x: StudentInput) -> Tensor:
        """``(P, K)`` class logits at ``x.points`` (the head applied to the trilinearly devoxelised
        backbone features; for a linear head that equals devoxelising per-voxel logits)."""
        h = self.backbone(x.voxels).voxel_features  # (N, hidden)
        return self.head(devoxelize(h, x.points, mode="trilinear"))  # (P, K)


@torch.no_grad()
def backbone_point_features(backbone: SparseUNet, x: StudentInput) -> Tensor:
    """``(P, hidden)`` float32 frozen backbone features at ``x.points`` (eval mode; trilinear)."""
    backbone.eval()
    return devoxelize(backbone(x.voxels).voxel_features, x.points, mode="trilinear")


class LinearProbe(nn.Module):
    """A linear classifier on frozen features, standardised per channel first.

    Args:
        mean / std: ``(C,)`` per-channel statistics of the training features (std floored at 1e-6).
        num_classes: ``K``.
    """

    def __init__(self, mean: Tensor, std: Tensor, num_classes: int):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp(min=1e-6))
        self.head = nn.Linear(mean.numel(), num_classes)

    def forward(self, features: Tensor) -> Tensor:
        """``(P, C)`` features -> ``(P, K)`` logits."""
        return self.head((features - self.mean) / self.std)


class SegmentationTask:
    """The training task (``scene3d.train.TrainTask``): item = room; loss = mean cross-entropy of the
    model's logits over the room's kept labelled points.

    Args:
        inputs: one model input per room (a ``StudentInput`` for :class:`SegmentationNet`, a
            ``(M_i, C)`` feature tensor for :class:`LinearProbe`).
        targets: ``(M_i,)`` int64 class per kept point of each room.

    Raises:
        ValueError: no rooms, or a different number of inputs and targets.
    """

    micro_batch = 1
    """One room per backward pass (a room's voxels are the memory peak)."""

    def __init__(self, inputs: list, targets: list[Tensor]):
        if not inputs or len(inputs) != len(targets):
            raise ValueError(f"SegmentationTask: needs one target per input, got {len(inputs)} inputs and "
                             f"{len(targets)} targets")
        self.inputs, self.targets = inputs, targets

    def draw(self, rng: np.random.Generator, size: int) -> list[int]:
        """The step's rooms: ``size`` indices drawn uniformly (with replacement)."""
        return rng.integers(len(self.inputs), size=size).tolist()

    def losses(self, model: nn.Module, batch: list[int], positions: list[int],
               generator: torch.Generator) -> dict[str, Tensor]:
        """``{"loss": cross-entropy}`` of room ``batch[positions[0]]``."""
        item = batch[positions[0]]
        return {"loss": F.cross_entropy(model(self.inputs[item]), self.targets[item])}


@torch.no_grad()
def predict_points(net: SegmentationNet, scene: Scene) -> Tensor:
    """``(N,)`` int64 predicted class index of every point of ``scene`` (eval mode)."""
    net.eval()
    return net(student_input(scene, net.config.voxel_size, net.config.normals)).argmax(dim=-1)


def finetune(scenes: list[Scene], classes: list[str], out_dir: str | Path, fraction: float,
             init: DistillStudent | StudentConfig, loop: LoopConfig, progress: bool = False) -> SegmentationNet:
    """Train a :class:`SegmentationNet` on ``scenes`` with ``fraction`` of their labelled points.

    ``loop.seed`` seeds everything: the random backbone (when ``init`` is a config), the head, the
    labels kept (:func:`labelled_rooms`) and the loop's draws. Writes the run to ``out_dir``
    (checkpoints, ``metrics.csv``; resumes if it holds one).

    Args:
        scenes: labelled training rooms (``Scene.point_labels``); frames are not used.
        classes: the ``K`` class names; points of other classes are unlabelled.
        fraction: share of each room's labelled points used, in (0, 1].
        init: a (pretrained) student whose backbone is fine-tuned, or the config of a random one.
        loop: the shared loop's settings.

    Returns:
        The trained network, eval mode, on the CPU.
    """
    config = init.config if isinstance(init, DistillStudent) else init
    inputs, targets = labelled_rooms(scenes, classes, fraction, loop.seed, config.voxel_size, config.normals)
    torch.manual_seed(loop.seed)
    net = SegmentationNet(config, len(classes), init.backbone if isinstance(init, DistillStudent) else None)
    run_training(net, SegmentationTask(inputs, targets), loop, out_dir, progress=progress, desc="finetune",
                 extra_state={"student": asdict(config), "classes": list(classes), "fraction": fraction,
                              "pretrained": isinstance(init, DistillStudent)})
    return net.eval()


def linear_probe(backbone: SparseUNet, scenes: list[Scene], classes: list[str], out_dir: str | Path, fraction: float,
                 config: StudentConfig, loop: LoopConfig, progress: bool = False) -> LinearProbe:
    """Train a :class:`LinearProbe` on ``backbone``'s frozen point features (computed once per room)
    with ``fraction`` of the labelled points; labels kept as in :func:`finetune` for the same seed.

    Args:
        backbone: the frozen backbone (``config`` gives its voxel size and inputs).
        scenes / classes / fraction / loop: as in :func:`finetune`.

    Returns:
        The trained probe, eval mode, on the CPU.
    """
    inputs, targets = labelled_rooms(scenes, classes, fraction, loop.seed, config.voxel_size, config.normals)
    feats = [backbone_point_features(backbone, x) for x in inputs]  # (M_i, hidden) each
    flat = torch.cat(feats)
    torch.manual_seed(loop.seed)
    probe = LinearProbe(flat.mean(dim=0), flat.std(dim=0), len(classes))
    run_training(probe, SegmentationTask(feats, targets), loop, out_dir, progress=progress, desc="probe",
                 extra_state={"classes": list(classes), "fraction": fraction})
    return probe.eval()
