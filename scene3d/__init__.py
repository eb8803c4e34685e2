"""scene3d: 3D scene vision-language grounding.

World frame: right-handed, z up, metres. Cameras: OpenCV (x right, y down,
z forward), poses given as ``cam_to_world`` 4x4 matrices. See
``docs/conventions.md``.
"""

__version__ = "0.1.0"
