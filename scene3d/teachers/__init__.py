"""2D feature teachers: a frame -> a dense ``(H', W', D)`` feature map (``TeacherMap``).

* :func:`label_embedding_teacher` - MiniLM class-name embeddings from synthetic instance masks,
  corrupted per view like an imperfect 2D open-vocabulary model (the embedded default).
* :func:`hf_vision_teacher` - CLIP / SigLIP / DINOv2 vision towers from a local transformers folder.
"""

from scene3d.teachers.base import Teacher, TeacherError, TeacherMap, build_teacher, map_mean
from scene3d.teachers.hf_vision import HFVisionTeacher, hf_vision_teacher
from scene3d.teachers.label import (
    LabelEmbeddingTeacher,
    LabelTeacherConfig,
    gaussian_blur,
    label_embedding_teacher,
)

__all__ = [
    "HFVisionTeacher", "LabelEmbeddingTeacher", "LabelTeacherConfig", "Teacher", "TeacherError", "TeacherMap",
    "build_teacher", "gaussian_blur", "hf_vision_teacher", "label_embedding_teacher", "map_mean",
]
