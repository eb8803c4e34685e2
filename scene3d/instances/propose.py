"""Instance proposals for an unlabelled scan: room planes, class-agnostic segments, open-vocabulary
labels, as a new :class:`~scene3d.structures.Scene` whose objects are predicted (``score`` set).

Scores (``SceneObject.score``) are measured, not calibrated probabilities:

* a plane's is the fraction of the points near it whose normal agrees with it (its planarity);
* a segment's is its isolation: the fraction of its points with no neighbour (kNN edge) in another
  segment (1 for an object standing alone on the floor, lower for one cut out of a larger blob).

Labels: planes are ``floor`` / ``ceiling`` / ``wall`` (``label_scores`` = that one label with the
plane's score). Segments are ``object`` with no ``label_scores`` unless a pretrain run is given: then
their top classes by the softmax of the mean feature's cosine with the class names (the run's
teacher's text space), the first of them being the label.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from scene3d.colors import measured_color_names
from scene3d.errors import ConfigError
from scene3d.geometry.boxes import aabb
from scene3d.instances.labels import proposal_features, top_labels
from scene3d.instances.neighbours import Neighbours, estimate_normals, knn_graph
from scene3d.instances.planes import PlaneConfig, find_planes
from scene3d.instances.segments import SegmentConfig, edge_weights, merge_segments, over_segment
from scene3d.structures import Scene, SceneObject

AGNOSTIC_LABEL = "object"
"""The label of a segment when no pretrain run names it."""

PLANE_SOURCE, SEGMENT_SOURCE = "plane", "segment"
"""``raw_label`` of a predicted object: found as a room plane, or as a merged segment."""

PLANE_LABELS = frozenset({"floor", "ceiling", "wall"})
"""The labels of room planes."""

LABEL_SOURCES = ("student", "fused", "both")
"""Where proposal features come from: the distilled student, the run's 2D teacher fused through the
scene's frames, or the mean of both (unit) proposal features."""


@dataclass(frozen=True)
class ProposalConfig:
    """Settings of :func:`propose`.

    Attributes:
        k: neighbours per point in the kNN graph.
        radius_factor: kNN edges longer than this times the median nearest-neighbour distance are cut.
        normal_neighbours: neighbours of the PCA normal estimate (scans without normals).
        planes / segments: the plane finder's and the segmentation's settings.
        top_k: classes kept per proposal (``label_scores``).
        temperature: softmax temperature over the classes' cosines.
        label_source: one of :data:`LABEL_SOURCES`.
        tolerance: depth-test tolerance of the fused teacher features, metres.
    """

    k: int = 10
    radius_factor: float = 3.0
    normal_neighbours: int = 16
    planes: PlaneConfig = field(default_factory=PlaneConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    top_k: int = 3
    temperature: float = 0.07
    label_source: str = "student"
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.label_source not in LABEL_SOURCES:
            raise ConfigError(f"label_source={self.label_source!r} is not one of {', '.join(LABEL_SOURCES)}")
        if self.top_k < 1 or not self.temperature > 0 or self.k < 1 or not self.radius_factor > 0:
            raise ConfigError(f"proposals: top_k >= 1, temperature > 0, k >= 1, radius_factor > 0 needed, got {self}")


def strip_labels(scene: Scene) -> Scene:
    """The scene without its objects: no objects, every point's instance -1, frames without their
    instance maps (an unlabelled scan as a user would bring it); points, colours, normals, frames'
    images and poses, mesh and provenance kept."""
    return replace(scene, instance_ids=np.full(scene.num_points, -1, dtype=np.int32), objects=[],
                   frames=[replace(f, instance=None) for f in scene.frames])


def _sub_graph(graph: Neighbours, keep: np.ndarray) -> tuple[Neighbours, np.ndarray]:
    """The graph's edges between kept points, renumbered over ``np.flatnonzero(keep)``."""
    index = np.flatnonzero(keep)
    new = np.full(len(keep), -1, dtype=np.int64)
    new[index] = np.arange(len(index))
    both = keep[graph.i] & keep[graph.j]
    return Neighbours(new[graph.i[both]], new[graph.j[both]], graph.length[both], graph.spacing), index


def _isolation(proposal: np.ndarray, graph: Neighbours, num: int) -> np.ndarray:
    """``(P,)`` fraction of each proposal's points with no kNN edge to another proposal."""
    a, b = proposal[graph.i], proposal[graph.j]
    touching = (a >= 0) & (b >= 0) & (a != b)
    touch = np.zeros(len(proposal), dtype=bool)
    touch[graph.i[touching]] = True
    touch[graph.j[touching]] = True
    inside = proposal >= 0
    total = np.bincount(proposal[inside], minlength=num)
    touched = np.bincount(proposal[inside & touch], minlength=num)
    return 1.0 - touched / np.maximum(total, 1)


@dataclass(frozen=True)
class Labeler:
    """What labels proposals, loaded once from a pretrain run and reused over scenes.

    Attributes:
        model: the run's students (one, or every member of a run of members; ``point_features`` averages them).
        teacher: the run's 2D teacher (text space; fused features through frames).
        names: the class names to label with.
        text: ``(K, D)`` their unit text embeddings.
        device: where the student runs.
    """

    model: list[torch.nn.Module]
    teacher: object
    names: list[str]
    text: torch.Tensor
    device: str = "cpu"

    @classmethod
    def load(cls, checkpoint: str | Path, classes: list[str] | None = None, teacher: dict | None = None,
             device: str = "cpu") -> Labeler:
        """The labeler of the pretrain run (or checkpoint folder) ``checkpoint``: its student, its teacher
        (or ``teacher``, a ``{_target_: ...}`` config) and ``classes`` (None: the run's training classes).

        Raises:
            ConfigError: no class names (the run records none and ``classes`` is None).
        """
        from scene3d.distill import load_students, run_teacher

        model, state = load_students(checkpoint, device=device)
        names = list(classes) if classes is not None else state.extra.get("classes")
        if not names:
            raise ConfigError(f"{checkpoint}: no class names (the run records none): pass classes=[name,...]")
        run = run_teacher(state, teacher)
        return cls(model, run, names, run.embed_text(names), device)


def _features(scene: Scene, labeler: Labeler, cfg: ProposalConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(``(N, D)`` point features, ``(N,)`` bool valid points or None) of ``scene`` by ``labeler``."""
    from scene3d.distill import fuse_teacher, point_features

    if cfg.label_source != "student" and not scene.frames:
        raise ConfigError(f"label_source={cfg.label_source} fuses the teacher through the scene's frames, "
                          f"and {scene.scene_id} has none (use label_source=student)")
    student = point_features(labeler.model, scene) if cfg.label_source != "fused" else None
    if cfg.label_source == "student":
        return student, None
    fused = fuse_teacher(scene, labeler.teacher, cfg.tolerance)
    seen = fused.views_seen > 0
    if cfg.label_source == "fused":
        return fused.features, seen
    both = torch.nn.functional.normalize(student, dim=-1)
    both[seen] = both[seen] + fused.features[seen]  # fused features are unit already
    return both, None


def superpoints(scene: Scene, config: ProposalConfig | None = None) -> np.ndarray:
    """``(N,)`` int64 superpoint index of each point (0..S-1): the graph over-segmentation that
    :func:`propose` merges into objects (kNN graph ``config.k`` / ``radius_factor``, edge weights and
    Felzenszwalb settings ``config.segments``), over all points (no planes cut out first, no merging).
    Normals are used when the scene has them, else estimated.

    Raises:
        ValueError: fewer than 2 points.
    """
    cfg = config or ProposalConfig()
    if scene.num_points < 2:
        raise ValueError(f"superpoints: {scene.scene_id} has {scene.num_points} points; need at least 2")
    points = scene.points.astype(np.float64)
    normals = scene.normals if scene.normals is not None else estimate_normals(scene.points, cfg.normal_neighbours)
    graph = knn_graph(points, cfg.k, cfg.radius_factor)
    weights = edge_weights(graph, points, normals.astype(np.float64), scene.colors, cfg.segments.color_weight)
    return over_segment(len(points), graph, weights, cfg.segments)


def propose(scene: Scene, *, checkpoint: str | Path | Labeler | None = None, classes: list[str] | None = None,
            config: ProposalConfig | None = None, teacher: dict | None = None, device: str = "cpu") -> Scene:
    """Class-agnostic instance proposals with open-vocabulary labels for an (unlabelled) scan.

    Args:
        scene: ``N`` points (metres, z up) with colours; normals are used when present, else estimated.
            Its objects and instance ids are ignored.
        checkpoint: a pretrain run (or checkpoint folder): its student's features label the segments
            and join segments whose features agree; or a :class:`Labeler` already loaded from one (many
            scenes: load it once). None: class-agnostic (``object``; planes keep theirs).
        classes: the class names to label with; None: the run's training classes (with a path only).
        config: settings; default :class:`ProposalConfig`.
        teacher: a teacher config (``{_target_: ...}``) for the text (and fused) features; None: the run's
            (with a path only).
        device: where the student runs (a torch device string).

    Returns:
        A new scene (same points, colours, normals, mesh, provenance; frames without their instance
        maps, which named the old objects) whose objects are the
        proposals (``score`` set, see the module doc), ids 0..P-1 (planes first), and whose
        ``instance_ids`` are the proposal ids (-1: points of no proposal).

    Raises:
        ConfigError: classes without a checkpoint, classes or teacher with a Labeler, no class names, fused features without frames.
        ValueError: fewer than 2 points.
    """
    cfg = config or ProposalConfig()
    if classes is not None and checkpoint is None:
        raise ConfigError("classes need a checkpoint (a pretrain run) whose features can name them")
    if isinstance(checkpoint, Labeler) and (classes is not None or teacher is not None):
        raise ConfigError("a Labeler has its classes and teacher already: give them to Labeler.load")
    points = scene.points.astype(np.float64)
    if len(points) < 2:
        raise ValueError(f"propose: {scene.scene_id} has {len(points)} points; proposals need at least 2")
    normals = scene.normals if scene.normals is not None else estimate_normals(scene.points, cfg.normal_neighbours)
    graph = knn_graph(points, cfg.k, cfg.radius_factor)
    planes = find_planes(points, normals, cfg.planes)
    proposal = np.full(len(points), -1, dtype=np.int64)
    free = np.ones(len(points), dtype=bool)
    for p in planes:
        free[p.indices] = False
    labeler = None
    if checkpoint is not None:
        labeler = checkpoint if isinstance(checkpoint, Labeler) else Labeler.load(checkpoint, classes, teacher, device)
    features, valid = _features(scene, labeler, cfg) if labeler is not None else (None, None)
    sub, index = _sub_graph(graph, free)
    if len(index):
        weights = edge_weights(sub, points[index], normals[index].astype(np.float64), scene.colors[index],
                               cfg.segments.color_weight)
        segments = over_segment(len(index), sub, weights, cfg.segments)
        merge_feats = None if features is None else features[index].numpy()
        proposal[index] = merge_segments(segments, sub, points[index], scene.colors[index], merge_feats, cfg.segments)
    num_segments = int(proposal.max()) + 1
    isolation = _isolation(proposal, graph, num_segments)
    labels: list[tuple[tuple[str, float], ...]] = [()] * num_segments
    if features is not None and num_segments:
        feats = proposal_features(features, proposal, num_segments, valid)
        labels = top_labels(feats, labeler.names, labeler.text, cfg.top_k, cfg.temperature)
    ids = np.full(len(points), -1, dtype=np.int32)
    members = [p.indices for p in planes] + [np.flatnonzero(proposal == s) for s in range(num_segments)]
    objects = []
    for oid, idx in enumerate(members):
        rgb = scene.colors[idx].mean(axis=0).round().astype(np.uint8)
        if oid < len(planes):
            plane = planes[oid]
            label, score, pairs, source = plane.label, plane.score, ((plane.label, plane.score),), PLANE_SOURCE
        else:
            s = oid - len(planes)
            pairs, score, source = labels[s], float(isolation[s]), SEGMENT_SOURCE
            label = pairs[0][0] if pairs else AGNOSTIC_LABEL
        ids[idx] = oid
        objects.append(SceneObject(object_id=oid, label=label, raw_label=source, box=aabb(scene.points[idx]),
                                   color_rgb=rgb, color_name=measured_color_names(rgb[None])[0], score=score,
                                   label_scores=pairs))
    return replace(scene, instance_ids=ids, objects=objects,
                   frames=[replace(f, instance=None) for f in scene.frames])
