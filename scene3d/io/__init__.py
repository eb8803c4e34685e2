"""Reading and writing scenes and language: the canonical folder, importers, real datasets."""

from scene3d.io.gt_objects import load_gt_object_scenes
from scene3d.io.plain import import_plain
from scene3d.io.referring import (
    LoadReport,
    RowProblem,
    check_targets,
    read_referit3d_csv,
    read_scanrefer_json,
    read_utterances_jsonl,
    write_utterances_jsonl,
)
from scene3d.io.scannet import ScanNetImportReport, import_scannet, read_intrinsics
from scene3d.io.scannet_labels import LabelMap
from scene3d.io.scene_folder import (
    list_scene_folders,
    load_scene,
    load_scene_folders,
    save_scene,
    scene_file_digests,
)

__all__ = [
    "LabelMap", "LoadReport", "RowProblem", "ScanNetImportReport", "check_targets", "import_plain",
    "import_scannet", "list_scene_folders", "load_scene_folders", "load_gt_object_scenes", "load_scene", "read_intrinsics",
    "read_referit3d_csv", "read_scanrefer_json", "read_utterances_jsonl", "save_scene", "scene_file_digests",
    "write_utterances_jsonl",
]
