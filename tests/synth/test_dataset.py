import filecmp
import shutil

from scene3d.cli import main
from scene3d.synth import SynthConfig, generate_dataset
from scene3d.synth.dataset import split_ids

CFG = SynthConfig(num_points=3000, min_object_points=20, num_frames=2, width=64, height=48)


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    stack = [cmp]
    while stack:
        c = stack.pop()
        if c.left_only or c.right_only or c.diff_files or c.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack.extend(c.subdirs.values())
    return True


def test_same_seed_identical_files_any_workers_and_resume(tmp_path):
    a = generate_dataset(tmp_path / "a", 3, seed=7, workers=1, config=CFG, progress=False)
    generate_dataset(tmp_path / "b", 3, seed=7, workers=2, config=CFG, progress=False)
    assert _same_tree(tmp_path / "a", tmp_path / "b")
    generate_dataset(tmp_path / "c", 3, seed=8, workers=1, config=CFG, progress=False)
    assert not _same_tree(tmp_path / "a", tmp_path / "c")
    # an interrupted run: a scene folder is missing; the rerun restores it identically
    shutil.rmtree(tmp_path / "b" / a.scene_ids[1])
    generate_dataset(tmp_path / "b", 3, seed=7, workers=1, config=CFG, progress=False)
    assert _same_tree(tmp_path / "a", tmp_path / "b")
    for name in ("dataset.json", "stats.png", "splits/train.txt", "splits/val.txt", "splits/test.txt"):
        assert (tmp_path / "a" / name).is_file()


def test_splits_partition():
    ids = [f"s{i}" for i in range(20)]
    splits = split_ids(ids, 0, (0.8, 0.1, 0.1))
    assert sorted(sum(splits.values(), [])) == sorted(ids)
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (16, 2, 2)


def test_generate_command(tmp_path, capsys):
    code = main(["generate", "num_scenes=2", f"out={tmp_path}", "num_points=2000", "num_frames=1",
                 "width=48", "height=36"])
    assert code == 0
    out = capsys.readouterr().out
    assert "generated 2 scenes" in out and "room types:" in out and "wall" in out
    assert main(["generate", "num_scenes=0", f"out={tmp_path}"]) == 2
    assert "num_scenes must be >= 1" in capsys.readouterr().err
