import json

import numpy as np
import pytest
from PIL import Image

from scene3d.errors import SceneFormatError
from scene3d.io import import_scannet, load_scene, save_scene
from scene3d.io.ply import write_ply


def _make_scan(root, scan="scene9999_00", with_align=True):
    """A 12-vertex ScanNet-like scan: 4 segments, 2 annotated objects, one frame."""
    folder = root / scan
    folder.mkdir(parents=True)
    xyz = np.array([[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0, 2.0) for z in (0.0, 1.0)], np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 1], [4, 5, 6], [6, 7, 5], [8, 9, 10], [10, 11, 9]], np.int32)
    write_ply(folder / f"{scan}_vh_clean_2.ply", {
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "red": np.full(12, 200, np.uint8), "green": np.arange(12, dtype=np.uint8), "blue": np.zeros(12, np.uint8),
        "alpha": np.full(12, 255, np.uint8),
    }, faces=faces)
    seg = [10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 40, 40]
    (folder / f"{scan}_vh_clean_2.0.010000.segs.json").write_text(json.dumps({"sceneId": scan, "segIndices": seg}))
    (folder / f"{scan}.aggregation.json").write_text(json.dumps({
        "sceneId": scan, "segmentsFile": f"scannet.v2.{scan}_vh_clean_2.0.010000.segs.json",
        "segGroups": [
            {"id": 0, "objectId": 0, "segments": [10, 20], "label": "Chair"},
            {"id": 1, "objectId": 5, "segments": [30], "label": "mystery thing"},
        ],
    }))
    (folder / "scannetv2-labels.combined.tsv").write_text(
        "id\traw_category\tcategory\tcount\tnyu40id\tnyu40class\n2\tchair\tchair\t1\t5\tchair\n"
    )
    align = "0 -1 0 0 1 0 0 0 0 0 1 0 0 0 0 1"  # 90 degrees about z
    (folder / f"{scan}.txt").write_text(("axisAlignment = " + align + "\n" if with_align else "") + "sceneType = Office\n")
    posed = folder / "posed_rgb"
    posed.mkdir()
    Image.fromarray(np.full((8, 10, 3), 77, np.uint8)).save(posed / "00000.jpg")
    (posed / "00000.pose_cam2world.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    (posed / "00001.jpg").write_bytes((posed / "00000.jpg").read_bytes())
    (posed / "00001.pose_cam2world.txt").write_text("-inf -inf -inf -inf\n" * 4)
    (posed / "intrinsic_color.txt").write_text("5 0 5 0\n0 5 4 0\n0 0 1 0\n0 0 0 1\n")
    return folder


def test_import_fabricated_scan(tmp_path):
    folder = _make_scan(tmp_path)
    scene, report = import_scannet(folder, box_mode="aabb", with_mesh=True)
    assert scene.num_points == 12 and report.num_labelled_points == 10
    assert [o.object_id for o in scene.objects] == [0, 5]
    assert scene.instance_ids.tolist() == [0] * 8 + [5] * 2 + [-1] * 2
    chair = scene.object(0)
    assert (chair.label, chair.raw_label, chair.nyu40_id, chair.scannet20_label) == ("chair", "Chair", 5, "chair")
    assert scene.object(5).nyu40_id is None and report.unmapped_labels == ["mystery thing"]
    # aligned: (x, y) -> (-y, x); the chair spans x in [0,1], y in [0,2] before alignment
    np.testing.assert_allclose(chair.box.center, [-1.0, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(chair.box.size, [2.0, 1.0, 1.0], atol=1e-6)
    assert report.skipped_frames == ["00001"] and len(scene.frames) == 1
    np.testing.assert_allclose(scene.frames[0].cam_to_world[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    assert scene.meta.room_type == "office" and scene.mesh is not None and len(scene.mesh.faces) == 6
    assert load_scene(save_scene(scene, tmp_path / "out")) == scene


def test_import_without_alignment_and_obb(tmp_path):
    folder = _make_scan(tmp_path, with_align=False)
    scene, report = import_scannet(folder, box_mode="obb", with_frames=False)
    assert report.axis_alignment is None and scene.meta.axis_align is None and scene.frames == []
    assert scene.object(0).box.size.prod() == pytest.approx(2.0)


def test_import_scan_errors(tmp_path):
    folder = _make_scan(tmp_path)
    (folder / "scene9999_00_vh_clean_2.0.010000.segs.json").write_text('{"segIndices": [1, 2]}')
    with pytest.raises(SceneFormatError, match="segIndices has 2 entries, the mesh has 12"):
        import_scannet(folder)
    with pytest.raises(SceneFormatError, match="scene0001_00: scan folder not found"):
        import_scannet(tmp_path / "scene0001_00")
    (tmp_path / "scene0002_00").mkdir()
    with pytest.raises(SceneFormatError, match="_vh_clean_2.ply: file not found"):
        import_scannet(tmp_path / "scene0002_00")
    with pytest.raises(ValueError, match="box_mode"):
        import_scannet(folder, box_mode="sphere")


@pytest.mark.real_data
def test_real_scene0000_00(shared_data, tmp_path):
    folder = shared_data / "scannet" / "scenes" / "scene0000_00"
    scene, report = import_scannet(folder)
    assert scene.num_points == 81_369
    assert len(scene.objects) == 55
    assert 60_000 < report.num_labelled_points < 66_000
    assert len(scene.frames) == 3 and scene.frames[0].rgb.shape == (968, 1296, 3)
    # aligned boxes match the ScanRefer / ReferIt3D ground truth for objects whose
    # v1 and v2 annotations agree (IoU >= 0.9 in v1_v2_object_correspondence.json)
    from scene3d.geometry.boxes import aabb_iou
    from scene3d.io import load_gt_object_scenes

    gt = load_gt_object_scenes(shared_data / "scannet" / "meta" / "objects_train_scenes.json.gz",
                               scene_ids={"scene0000_00"})["scene0000_00"]
    corr = json.loads((folder / "v1_v2_object_correspondence.json").read_text())["objects"]
    same = [int(k) for k, v in corr.items() if (v.get("aabb_iou_v1_vs_v2") or 0) >= 0.99]
    assert len(same) >= 20
    ious = [aabb_iou(scene.object(i).box, gt.object(i).box) for i in same]
    assert min(ious) > 0.95
    assert load_scene(save_scene(scene, tmp_path)) == scene
