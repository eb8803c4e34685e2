import numpy as np
import pytest
import trimesh

from scene3d.errors import SceneFormatError
from scene3d.io import import_plain


def test_mesh_vertices_and_samples(tmp_path):
    mesh = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    mesh.visual.vertex_colors = np.tile([10, 20, 30, 255], (len(mesh.vertices), 1))
    path = tmp_path / "box.ply"
    mesh.export(path)
    scene = import_plain(path, with_mesh=True)
    assert scene.scene_id == "box" and scene.num_points == 8 and scene.objects == []
    assert (scene.instance_ids == -1).all() and scene.colors[0].tolist() == [10, 20, 30]
    assert scene.mesh is not None and len(scene.mesh.faces) == 12
    sampled = import_plain(path, sample_points=500, seed=1, scene_id="s")
    assert sampled.num_points == 500 and sampled.scene_id == "s"
    assert np.abs(sampled.points).max(axis=0) == pytest.approx([1.0, 0.5, 0.25], abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(sampled.normals, axis=1), 1.0, atol=1e-5)


def test_point_cloud_and_obj(tmp_path):
    cloud = trimesh.PointCloud(np.random.default_rng(0).random((20, 3)))
    cloud.export(tmp_path / "cloud.ply")
    scene = import_plain(tmp_path / "cloud.ply")
    assert scene.num_points == 20 and (scene.colors == 128).all()  # no colours in the file: grey
    trimesh.creation.icosphere().export(tmp_path / "ball.obj")
    assert import_plain(tmp_path / "ball.obj").num_points > 0


def test_bad_plain_files(tmp_path):
    with pytest.raises(SceneFormatError, match="file not found"):
        import_plain(tmp_path / "none.ply")
    (tmp_path / "junk.ply").write_bytes(b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\n")
    with pytest.raises(SceneFormatError, match="junk.ply: PLY header has no 'end_header'"):
        import_plain(tmp_path / "junk.ply")
    (tmp_path / "nan.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
        "end_header\n0 0 0\nnan 1 1\n"
    )
    with pytest.raises(SceneFormatError, match="nan.ply: points contain NaN"):
        import_plain(tmp_path / "nan.ply")
    (tmp_path / "empty.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    )
    with pytest.raises(SceneFormatError, match="empty.ply"):
        import_plain(tmp_path / "empty.ply")
