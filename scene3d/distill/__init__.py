"""2D-3D feature distillation (ConDense-style): a sparse 3D student learns a 2D teacher's features
through ray-marched feature and depth consistency (or, as a baseline, direct point projection).

See ``docs/distill.md``.
"""

from scene3d.distill.evaluate import (
                                      ENSEMBLE_RULES,
                                      METHODS,
                                      SegmentationReport,
                                      SegmentationScores,
                                      confusion_matrix,
                                      cross_view_agreement,
                                      ensemble_features,
                                      evaluate_segmentation,
                                      frame_classes,
                                      point_classes,
                                      predict_classes,
                                      segmentation_scores,
                                      zero_shot_features,
)
from scene3d.distill.fusion import FusedFeatures, fuse_teacher, fuse_views
from scene3d.distill.keypoints import (
                                      Keypoints,
                                      detect_keypoints,
                                      saliency,
                                      scene_descriptor,
)
from scene3d.distill.losses import (
                                      FeatureLoss,
                                      RenderLosses,
                                      contrastive_loss,
                                      cosine_loss,
                                      projection_loss,
                                      ray_distance,
                                      render_losses,
                                      sample_pixels,
)
from scene3d.distill.student import (
                                      DistillStudent,
                                      StudentConfig,
                                      StudentInput,
                                      StudentOutput,
                                      student_input,
)
from scene3d.distill.trainer import (
                                      DistillConfig,
                                      DistillTask,
                                      feature_loss,
                                      load_student,
                                      plane_symmetry,
                                      point_features,
                                      pretrain,
)
from scene3d.distill.views import DistillDataError, Views, scene_views, visible_points

__all__ = [
                                      "ENSEMBLE_RULES",
                                      "METHODS",
                                      "SegmentationReport",
                                      "DistillConfig",
                                      "DistillDataError",
                                      "DistillStudent",
                                      "DistillTask",
                                      "FeatureLoss",
                                      "FusedFeatures",
                                      "Keypoints",
                                      "RenderLosses",
                                      "SegmentationScores",
                                      "StudentConfig",
                                      "StudentInput",
                                      "StudentOutput",
                                      "Views",
                                      "confusion_matrix",
                                      "contrastive_loss",
                                      "cosine_loss",
                                      "cross_view_agreement",
                                      "detect_keypoints",
                                      "ensemble_features",
                                      "evaluate_segmentation",
                                      "feature_loss",
                                      "frame_classes",
                                      "fuse_teacher",
                                      "fuse_views",
                                      "load_student",
                                      "plane_symmetry",
                                      "point_classes",
                                      "point_features",
                                      "predict_classes",
                                      "pretrain",
                                      "projection_loss",
                                      "ray_distance",
                                      "render_losses",
                                      "saliency",
                                      "sample_pixels",
                                      "scene_descriptor",
                                      "scene_views",
                                      "segmentation_scores",
                                      "student_input",
                                      "visible_points",
                                      "zero_shot_features",
]
