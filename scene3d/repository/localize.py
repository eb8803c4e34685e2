"""Where was this picture taken: an RGB image -> the indexed scenes it shows and the camera pose.

A scene with posed RGB-D frames gives the index, per frame, a **view descriptor** (the configured 2D
teacher's mean feature beside a hue-saturation histogram, for image retrieval as NetVLAD is used in
hloc) and, per scene, **landmarks**: SIFT keypoints of its frames lifted to 3D by the frame depth,
with their RootSIFT descriptors. A query image is described the same way; the nearest views give
candidate scenes; its SIFT keypoints are matched to each candidate's landmarks (Lowe's ratio test)
and the camera pose is solved by PnP RANSAC (OpenCV's SQPnP on minimal sets, then Levenberg-Marquardt
on the inliers). Candidates are ranked by their inlier count.

Landmarks are compact (about 70 bytes each, some 40 KB per room of 10 views): keypoints of different
frames that lie within 3 cm of each other with similar descriptors are merged into one landmark
(a track, as structure-from-motion keeps one 3D point per track), only tracks seen from at least
two frames are kept (a keypoint that one view alone found is rarely found by a query), and they are
stored with millimetre int16 positions and 4-bit descriptor components (:meth:`Landmarks.to_bytes`).

Why SIFT and not the teacher for the 2D-3D matches: the teacher's features say *what* a pixel shows,
not *where* on the object it is (the label teacher's feature is constant over an object; DINOv2 patch
features are 14 px wide), so they shortlist the scenes and SIFT localises.

Units: pixels for image coordinates (OpenCV convention, pixel centres at integer + 0.5 in ``K``'s
frame as elsewhere), metres and world z-up for landmarks, ``cam_to_world`` 4x4 OpenCV poses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scene3d.errors import Scene3DError
from scene3d.geometry.camera import backproject
from scene3d.structures import Frame, Scene
from scene3d.teachers.base import Teacher, TeacherMap, map_mean

HUE_BINS, SAT_BINS = 16, 4
"""The colour part of a view descriptor: a hue x saturation histogram (shading changes value, not hue)."""
DESCRIPTOR_LEVELS, DESCRIPTOR_CLIP = 15, 0.5
"""Landmark descriptors keep 4 bits per component: level ``round(min(c, 0.5) / 0.5 * 15)`` of each unit
RootSIFT component ``c`` (larger components are rare and clipped)."""


class LocalizationError(Scene3DError, ValueError):
    """An image or a scene cannot be used for image queries (no frame with depth, a bad intrinsics matrix...)."""


@dataclass
class Landmarks:
    """A scene's 3D keypoints for image queries.

    Attributes:
        xyz: ``(K, 3)`` float32 world points, metres.
        descriptors: ``(K, 128)`` uint8 quantised RootSIFT descriptors: per component a level in
            ``[0, DESCRIPTOR_LEVELS]`` (see :data:`DESCRIPTOR_CLIP`; :meth:`quantise` makes them).
    """

    xyz: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.xyz)

    @classmethod
    def quantise(cls, xyz: np.ndarray, unit: np.ndarray) -> Landmarks:
        """Landmarks of ``(K, 3)`` world points (metres) and their ``(K, 128)`` unit RootSIFT descriptors."""
        levels = np.round(np.minimum(unit, DESCRIPTOR_CLIP) / DESCRIPTOR_CLIP * DESCRIPTOR_LEVELS)
        return cls(np.asarray(xyz, np.float32).reshape(-1, 3), levels.clip(0, DESCRIPTOR_LEVELS).astype(np.uint8))

    def unit_descriptors(self) -> np.ndarray:
        """``(K, 128)`` float32 L2-normalised descriptors."""
        d = self.descriptors.astype(np.float32)
        return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)

    def to_bytes(self) -> tuple[bytes, bytes]:
        """``(positions, descriptors)`` as stored: an origin (3 float32, metres) and per landmark 3 int16
        millimetre offsets from it (12 + 6 K bytes); two 4-bit levels per byte (64 K bytes).

        Raises:
            LocalizationError: the landmarks span more than 65 m (int16 millimetres around their centre).
        """
        xyz = np.asarray(self.xyz, np.float64).reshape(-1, 3)
        origin = (xyz.min(axis=0) + xyz.max(axis=0)) / 2 if len(xyz) else np.zeros(3)
        mm = np.round((xyz - origin) * 1000.0)
        if len(mm) and np.abs(mm).max() > np.iinfo(np.int16).max:
            raise LocalizationError(f"landmarks span {np.ptp(xyz, axis=0).max():.1f} m; at most 65 m is stored")
        d = self.descriptors.astype(np.uint8)
        return (origin.astype(np.float32).tobytes() + mm.astype(np.int16).tobytes(),
                ((d[:, 0::2] << 4) | d[:, 1::2]).tobytes())

    @classmethod
    def from_bytes(cls, positions: bytes, descriptors: bytes) -> Landmarks:
        """The landmarks that :meth:`to_bytes` stored (positions within 0.5 mm)."""
        origin = np.frombuffer(positions[:12], dtype=np.float32).astype(np.float64)
        xyz = np.frombuffer(positions[12:], dtype=np.int16).reshape(-1, 3) / 1000.0 + origin
        packed = np.frombuffer(descriptors, dtype=np.uint8).reshape(-1, 64)
        d = np.empty((len(packed), 128), np.uint8)
        d[:, 0::2], d[:, 1::2] = packed >> 4, packed & 0x0F
        return cls(xyz.astype(np.float32), d)


@dataclass(frozen=True)
class PoseEstimate:
    """A camera pose solved from 2D-3D matches.

    Attributes:
        cam_to_world: ``(4, 4)`` float64 OpenCV camera-to-world pose (metres).
        inliers: matches within the reprojection threshold of the pose.
        matches: matches that passed the ratio test.
    """

    cam_to_world: np.ndarray
    inliers: int
    matches: int


def _sift(max_features: int):
    import cv2

    return cv2.SIFT_create(nfeatures=max_features, contrastThreshold=0.02)


def local_features(rgb: np.ndarray, max_features: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints of an image with RootSIFT descriptors.

    Args:
        rgb: ``(H, W, 3)`` uint8.
        max_features: keep at most this many (strongest first).

    Returns:
        ``uv (N, 2)`` float64 pixel positions (x right, y down), ``descriptors (N, 128)`` float32 unit.
    """
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    keypoints, desc = _sift(max_features).detectAndCompute(gray, None)
    if desc is None or not keypoints:
        return np.zeros((0, 2)), np.zeros((0, 128), np.float32)
    uv = np.array([k.pt for k in keypoints], dtype=np.float64)
    root = np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-6))  # RootSIFT (Arandjelovic 2012)
    return uv, (root / np.maximum(np.linalg.norm(root, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """``(HUE_BINS * SAT_BINS,)`` float32 unit hue-saturation histogram (square-rooted, Hellinger) of
    the pixels bright enough to have a hue (value > 0.1)."""
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV_FULL)  # hue in [0, 255]
    bright = hsv[..., 2] > 25
    h = (hsv[..., 0][bright].astype(np.int64) * HUE_BINS) // 256
    s = (hsv[..., 1][bright].astype(np.int64) * SAT_BINS) // 256
    hist = np.sqrt(np.bincount(h * SAT_BINS + s, minlength=HUE_BINS * SAT_BINS).astype(np.float32))
    return hist / max(float(np.linalg.norm(hist)), 1e-6)


def view_descriptor(teacher_map: TeacherMap, rgb: np.ndarray) -> np.ndarray:
    """A view's retrieval descriptor: ``[unit mean teacher feature, colour histogram] / sqrt(2)``.

    Args:
        teacher_map: the teacher's map of the view (``(H', W', D)`` features, valid mask).
        rgb: ``(H, W, 3)`` uint8, the view's image.

    Returns:
        ``(D + 64,)`` float32, unit norm when the teacher gives a feature anywhere (else the colour
        part alone, norm ``1 / sqrt(2)``).
    """
    return _descriptor(map_mean(teacher_map), rgb)


def query_descriptor(teacher: Teacher, scene: Scene, frame: Frame) -> np.ndarray:
    """The view descriptor of a query image as :func:`view_descriptor` defines it, with the teacher's
    :meth:`~scene3d.teachers.Teacher.mean_feature` in place of its map (the label teacher gives it
    without building the dense map: about 1 ms instead of 150-700 ms on the 2-core dev box).

    Args:
        teacher: the teacher the index was built with.
        scene: the context handed to the teacher (only the label teacher reads it).
        frame: the query; its ``rgb`` ``(H, W, 3)`` uint8.

    Returns:
        ``(D + 64,)`` float32 (see :func:`view_descriptor`).
    """
    return _descriptor(teacher.mean_feature(scene, frame), frame.rgb)


def _descriptor(mean: torch.Tensor, rgb: np.ndarray) -> np.ndarray:
    """``[mean (D,) unit or zero, colour histogram (64,)] / sqrt(2)`` as float32."""
    return (np.concatenate([mean.numpy(), colour_histogram(rgb)]) / np.sqrt(2.0)).astype(np.float32)


def scene_landmarks(scene: Scene, max_per_frame: int = 300, radius: float = 0.03, max_distance: float = 0.8,
                    min_views: int = 2) -> Landmarks:
    """SIFT keypoints of every frame with depth, lifted to world points by the depth at the keypoint and
    merged into tracks (see the module doc).

    Two keypoints of different frames join one track when they lie within ``radius`` and their unit
    descriptors within ``max_distance`` (Euclidean) of each other (and transitively); a track's landmark
    is the mean position and the renormalised mean descriptor of its keypoints. Tracks seen from fewer
    than ``min_views`` frames are dropped (all are kept for a scene with fewer frames with depth).

    Args:
        scene: a scene with posed frames (``Frame.depth`` in metres, 0 = invalid).
        max_per_frame: SIFT keypoints taken per frame (strongest first).
        radius: metres.

    Raises:
        LocalizationError: no frame of the scene has a depth map.
    """
    frames = [f for f in scene.frames if f.depth is not None]
    if not frames:
        raise LocalizationError(f"scene {scene.scene_id}: image queries need frames with depth "
                                f"({len(scene.frames)} frames, none with depth)")
    xyz, desc, views = [], [], []
    for k, f in enumerate(frames):
        uv, d = local_features(f.rgb, max_per_frame)
        cols = np.clip(uv[:, 0].astype(np.int64), 0, f.width - 1)
        rows = np.clip(uv[:, 1].astype(np.int64), 0, f.height - 1)
        z = f.depth[rows, cols].astype(np.float64)
        ok = z > 0
        # OpenCV keypoints are in the same continuous pixel frame as K
        xyz.append(backproject(uv[ok], z[ok], f.K, f.cam_to_world))
        desc.append(d[ok])
        views.append(np.full(int(ok.sum()), k))
    return _tracks(np.concatenate(xyz), np.concatenate(desc), np.concatenate(views), radius, max_distance,
                   min(min_views, len(frames)))


def _tracks(xyz: np.ndarray, unit: np.ndarray, view: np.ndarray, radius: float, max_distance: float,
            min_views: int) -> Landmarks:
    """Landmarks of the tracks of keypoints ``xyz`` (N, 3) metres with unit descriptors (N, 128) from
    frames ``view`` (N,) (see :func:`scene_landmarks`)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xyz)
    pairs = cKDTree(xyz).query_pairs(radius, output_type="ndarray") if n else np.zeros((0, 2), np.int64)
    a, b = pairs[:, 0], pairs[:, 1]
    same = (view[a] != view[b]) & (np.linalg.norm(unit[a] - unit[b], axis=1) < max_distance)
    graph = coo_matrix((np.ones(int(same.sum())), (a[same], b[same])), shape=(n, n))
    count, track = connected_components(graph, directed=False)
    frames = int(view.max(initial=0)) + 1
    seen_in = np.bincount(np.unique(track * frames + view) // frames, minlength=count)  # distinct frames per track
    size = np.bincount(track, minlength=count).astype(np.float64)[:, None]
    points = np.zeros((count, 3))
    np.add.at(points, track, xyz)
    descriptors = np.zeros((count, unit.shape[1]))
    np.add.at(descriptors, track, unit)
    keep = seen_in >= min_views
    descriptors = descriptors[keep] / np.maximum(np.linalg.norm(descriptors[keep], axis=1, keepdims=True), 1e-9)
    return Landmarks.quantise(points[keep] / size[keep], descriptors)


def scene_view_descriptors(scene: Scene, teacher) -> tuple[list[str], np.ndarray]:
    """``(frame names, (V, D + 64) float32)`` view descriptors of a scene's frames with depth (the
    frames its landmarks come from)."""
    frames = [f for f in scene.frames if f.depth is not None]
    return [f.name for f in frames], np.stack([view_descriptor(teacher(scene, f), f.rgb) for f in frames])


def estimate_pose(uv: np.ndarray, descriptors: np.ndarray, landmarks: Landmarks, K: np.ndarray,
                  ratio: float = 0.85, reprojection_error: float = 3.0, iterations: int = 1000,
                  min_inliers: int = 12, seed: int = 0, guided_radius: float = 3.0,
                  guided_distance: float = 0.6, refine_error: float = 1.0,
                  refine_rounds: int = 2) -> PoseEstimate | None:
    """Camera pose of an image from its keypoints and a scene's landmarks.

    Each keypoint is matched to its nearest landmark descriptor when that is closer than ``ratio``
    times the second nearest (Lowe's test); PnP RANSAC on the matches (SQPnP on minimal sets; EPnP
    when SQPnP fails on a degenerate set), then Levenberg-Marquardt refinement on the inliers.
    The pose is then polished by **guided matching** (``refine_rounds`` times): every keypoint is
    matched to the landmark nearest in descriptor among those the pose projects within
    ``guided_radius`` pixels of it (when closer than ``guided_distance``, no ratio test), and
    Levenberg-Marquardt refines the pose on the matches that reproject within ``refine_error`` pixels.
    Matches that the ratio test dropped (repeated texture) come back this way, and the tight threshold
    leaves out landmarks whose track merged slightly different points; on 28 rooms disjoint from
    the benchmark's (seeds 50000-50027, 56 queries) it lowered the mean position error from 0.86 to
    0.60 cm.

    Args:
        uv: ``(N, 2)`` keypoint pixels; descriptors: ``(N, 128)`` unit RootSIFT (:func:`local_features`).
        landmarks: the scene's landmarks.
        K: ``(3, 3)`` pinhole intrinsics of the image, pixels.
        ratio: Lowe's ratio.
        reprojection_error: RANSAC inlier threshold, pixels.
        iterations: RANSAC iterations.
        min_inliers: fewer inliers than this is no pose (None).
        seed: OpenCV's RNG seed (RANSAC is then deterministic).
        guided_radius: pixels; guided_distance: Euclidean distance of unit descriptors;
        refine_error: pixels; refine_rounds: guided matching rounds (0 = none).

    Returns:
        The pose (``inliers`` counts the RANSAC inliers), or None when fewer than ``min_inliers``
        matches agree on one.
    """
    import cv2
    from scipy.spatial import cKDTree

    if len(uv) < 4 or len(landmarks) < 2:
        return None
    lm = landmarks.unit_descriptors()
    dist2 = np.maximum(2.0 - 2.0 * descriptors @ lm.T, 0.0)  # (N, K) squared distances of unit vectors
    nearest = np.argpartition(dist2, 1, axis=1)[:, :2]
    d_near = np.take_along_axis(dist2, nearest, axis=1)
    first = np.where(d_near[:, 0] <= d_near[:, 1], nearest[:, 0], nearest[:, 1])
    keep = np.sqrt(d_near.min(axis=1)) < ratio * np.sqrt(d_near.max(axis=1))
    if keep.sum() < max(min_inliers, 4):
        return None
    obj = landmarks.xyz[first[keep]].astype(np.float64)
    img = uv[keep].astype(np.float64)
    ok, rvec, tvec, inliers = False, None, None, None
    for method in (cv2.SOLVEPNP_SQPNP, cv2.SOLVEPNP_EPNP):
        cv2.setRNGSeed(seed)
        try:
            ok, rvec, tvec, inliers = cv2.solvePnPRansac(obj, img, np.asarray(K, np.float64), None,
                                                         iterationsCount=iterations, confidence=0.999,
                                                         reprojectionError=reprojection_error, flags=method)
            break
        except cv2.error:  # SQPnP asserts on some degenerate minimal sets (OpenCV 5.0): try EPnP
            continue
    if not ok or inliers is None or len(inliers) < min_inliers:
        return None
    inl = inliers[:, 0]
    K = np.asarray(K, np.float64)
    rvec, tvec = cv2.solvePnPRefineLM(obj[inl], img[inl], K, None, rvec, tvec)
    xyz = landmarks.xyz.astype(np.float64)
    keypoints = cKDTree(uv)
    for _ in range(refine_rounds):
        ahead = np.flatnonzero((xyz @ cv2.Rodrigues(rvec)[0].T + tvec[:, 0])[:, 2] > 0)
        if not len(ahead):
            break
        proj = cv2.projectPoints(xyz[ahead], rvec, tvec, K, None)[0][:, 0]  # (A, 2) pixels
        near = keypoints.sparse_distance_matrix(cKDTree(proj), guided_radius, output_type="ndarray")
        i, j = near["i"].astype(np.int64), near["j"].astype(np.int64)  # keypoint, row of proj
        d = dist2[i, ahead[j]]
        close = d < guided_distance ** 2
        i, j, d = i[close], j[close], d[close]
        order = np.lexsort((d, i))  # per keypoint, the nearest descriptor first
        first = order[np.unique(i[order], return_index=True)[1]]
        i, j = i[first], j[first]
        tight = np.linalg.norm(proj[j] - uv[i], axis=1) < refine_error
        if tight.sum() < max(min_inliers, 4):
            break
        rvec, tvec = cv2.solvePnPRefineLM(xyz[ahead[j[tight]]], uv[i[tight]].astype(np.float64), K, None, rvec, tvec)
    world_to_cam = np.eye(4)
    world_to_cam[:3, :3] = cv2.Rodrigues(rvec)[0]
    world_to_cam[:3, 3] = tvec[:, 0]
    return PoseEstimate(cam_to_world=np.linalg.inv(world_to_cam), inliers=len(inl), matches=int(keep.sum()))


def pose_error(estimate: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """``(translation error in metres, rotation error in degrees)`` between two 4x4 camera poses."""
    t = float(np.linalg.norm(estimate[:3, 3] - truth[:3, 3]))
    cos = (np.trace(estimate[:3, :3].T @ truth[:3, :3]) - 1.0) / 2.0
    return t, float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

