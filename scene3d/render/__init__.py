"""scene3d.render: the rendering core.

Pure functions plus small modules, identical on CPU and CUDA:

* :mod:`~scene3d.render.cameras`  - batched pinhole cameras, pixel -> ray, world -> pixel.
* :mod:`~scene3d.render.grid`     - sparse occupied-voxel set with hash lookup.
* :mod:`~scene3d.render.sampling` - ray-box intersection, uniform and empty-space-skipping samplers (packed layout).
* :mod:`~scene3d.render.field`    - trilinear feature/density field on the sparse voxels.
* :mod:`~scene3d.render.volume`   - packed emission-absorption compositing.
* :mod:`~scene3d.render.zbuffer`  - point <-> pixel correspondences with visibility.
* :mod:`~scene3d.render.renderer` - ``Renderer(ray_sampler, field, marcher)``.

Conventions and the packed layout are described in ``docs/render.md``.
"""

from scene3d.render.cameras import (
    Cameras,
    Projection,
    Rays,
    camera_directions,
    pixel_centers,
    project_points,
    rays_from_cameras,
    rays_from_pixels,
)
from scene3d.render.errors import RenderInputError
from scene3d.render.field import (
    Corners,
    FieldOutput,
    Interpolation,
    SparseVoxelField,
    blend_corners,
    trilinear_corners,
    trilinear_interpolate,
)
from scene3d.render.grid import SparseVoxelGrid, pack_coords
from scene3d.render.renderer import Renderer
from scene3d.render.sampling import (
    OccupiedRaySampler,
    RayBoxHits,
    RaySamples,
    UniformRaySampler,
    offsets_from_counts,
    ray_aabb_intersect,
    sample_occupied,
    sample_uniform,
)
from scene3d.render.volume import (
    EmissionAbsorptionMarcher,
    RenderOutput,
    Weights,
    accumulate_along_rays,
    composite,
    exclusive_cumsum_packed,
    render_weights,
    weighted_sum_along_rays,
)
from scene3d.render.zbuffer import (
    PointPixelMatches,
    match_points_to_depth,
    ray_depth_to_z,
    zbuffer_depth,
    zbuffer_points,
)

__all__ = [
    "Cameras",
    "Corners",
    "EmissionAbsorptionMarcher",
    "FieldOutput",
    "Interpolation",
    "OccupiedRaySampler",
    "PointPixelMatches",
    "Projection",
    "RayBoxHits",
    "RaySamples",
    "Rays",
    "RenderInputError",
    "RenderOutput",
    "Renderer",
    "SparseVoxelField",
    "SparseVoxelGrid",
    "UniformRaySampler",
    "Weights",
    "accumulate_along_rays",
    "blend_corners",
    "camera_directions",
    "composite",
    "exclusive_cumsum_packed",
    "match_points_to_depth",
    "offsets_from_counts",
    "pack_coords",
    "pixel_centers",
    "project_points",
    "ray_aabb_intersect",
    "ray_depth_to_z",
    "rays_from_cameras",
    "rays_from_pixels",
    "render_weights",
    "sample_occupied",
    "sample_uniform",
    "trilinear_corners",
    "trilinear_interpolate",
    "weighted_sum_along_rays",
    "zbuffer_depth",
    "zbuffer_points",
]
