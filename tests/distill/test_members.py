"""A pretrain run of several students (members): trained with consecutive seeds, in worker processes
or one after another with the same result, resumed, and averaged by every command that reads the run."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from scene3d.cli import main
from scene3d.distill import load_student, load_students, member_folders, point_features
from scene3d.errors import SceneFormatError
from scene3d.io import load_scene
from tests.distill._helpers import TINY_STUDENT_OVERRIDES, save_tiny_dataset

BASE = ["split=null", "progress=false", "device=cpu", "teacher._target_=tests.distill._helpers.fake_teacher",
        "loop.steps=2", "loop.batch_size=1", "distill.projection_points=512", *TINY_STUDENT_OVERRIDES]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 2-member run trained in two worker processes and in this process, on one tiny room."""
    root = tmp_path_factory.mktemp("members")
    save_tiny_dataset(root / "data", n=1)
    made = {}
    for workers in (2, 1):
        made[workers] = root / f"run_w{workers}"
        assert main(["pretrain", f"data={root / 'data'}", f"out={made[workers]}", "members=2", f"workers={workers}",
                     "loop.seed=5", *BASE]) == 0
    return root, made


def _weights(folder):
    return load_file(str(next((folder / "checkpoints").glob("step_*")) / "model.safetensors"))


def test_members_get_consecutive_seeds_and_workers_do_not_change_the_result(runs):
    root, made = runs
    run = made[2]
    assert json.loads((run / "members.json").read_text()) == {"members": ["member_0", "member_1"], "seeds": [5, 6]}
    assert member_folders(run) == [run / "member_0", run / "member_1"]
    seeds = [json.loads((run / f"member_{i}" / "config.json").read_text())["loop"]["seed"] for i in range(2)]
    assert seeds == [5, 6]
    for i in range(2):   # a worker process trains exactly what this process trains
        a, b = _weights(run / f"member_{i}"), _weights(made[1] / f"member_{i}")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    first, second = _weights(run / "member_0"), _weights(run / "member_1")
    assert any(not torch.equal(first[k], second[k]) for k in first)   # other seeds, other students


def test_commands_average_the_members(runs, capsys):
    root, made = runs
    run, scene = made[2], root / "data" / "tiny_0"
    models, state = load_students(run)
    assert len(models) == 2 and state.step == 2
    with pytest.raises(SceneFormatError, match="load_students"):
        load_student(run)
    assert main(["features", f"scene={scene}", f"checkpoint={run}", f"out={root / 'feats'}", "turns=2",
                 "dtype=float32"]) == 0
    written = load_file(str(root / "feats" / "features.safetensors"))["point_features"]
    expected = point_features(models, load_scene(scene, frames=False, mesh=False), turns=2)
    assert torch.allclose(written, expected, atol=1e-6)
    one = point_features(models[0], load_scene(scene, frames=False, mesh=False), turns=2)
    assert not torch.allclose(written, one, atol=1e-4)
    # the run as a list entry: its members join the list's students
    assert main(["eval-segmentation", f"data={root / 'data'}", f"checkpoint={run}", "split=null", "turns=1",
                 f"out={root / 'm.json'}"]) == 0
    assert main(["eval-segmentation", f"data={root / 'data'}", f"checkpoint=[{run / 'member_0'},{run / 'member_1'}]",
                 "split=null", "turns=1", f"out={root / 'list.json'}"]) == 0
    assert json.loads((root / "m.json").read_text())["miou"] == json.loads((root / "list.json").read_text())["miou"]
    from scene3d.instances.propose import Labeler

    assert len(Labeler.load(run).model) == 2


def test_a_finished_run_resumes_to_itself_and_other_members_are_refused(runs, capsys):
    root, made = runs
    run = made[2]
    before = _weights(run / "member_1")
    assert main(["pretrain", f"data={root / 'data'}", f"out={run}", "members=2", "workers=2", "loop.seed=5", *BASE]) == 0
    after = _weights(run / "member_1")
    assert all(torch.equal(before[k], after[k]) for k in before)
    capsys.readouterr()
    for args, message in [(["members=3", "loop.seed=5"], "resume it with members=2 loop.seed=5"),
                          (["members=2", "loop.seed=0"], "resume it with members=2 loop.seed=5"),
                          (["members=1", "loop.seed=5"], "resume it with members=2 loop.seed=5"),
                          (["members=0"], "members must be an integer >= 1"),
                          (["workers=0"], "workers must be an integer >= 1")]:
        assert main(["pretrain", f"data={root / 'data'}", f"out={run}", *args, *BASE]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    # a one-student run folder does not turn into a run of members
    assert main(["pretrain", f"data={root / 'data'}", f"out={run / 'member_0'}", "members=2", *BASE]) == 2
    assert "holds a run of one student" in capsys.readouterr().err
    # a member's error reaches the user as one line, from a worker process too
    bad = [a for a in BASE if not a.startswith("teacher.")] + ["teacher._target_=nowhere.teacher"]
    assert main(["pretrain", f"data={root / 'data'}", f"out={root / 'bad'}", "members=2", "workers=2", *bad]) == 2
    err = capsys.readouterr().err
    assert "teacher: Error locating target 'nowhere.teacher'" in err and len(err.strip().splitlines()) == 1, err


def test_scene_format_errors_cross_process_boundaries():
    import pickle

    exc = pickle.loads(pickle.dumps(SceneFormatError("/x/scene.json", "not a scene")))
    assert isinstance(exc, SceneFormatError) and str(exc) == "/x/scene.json: not a scene" and exc.problem == "not a scene"


def test_a_malformed_members_record_is_a_format_error(tmp_path, capsys):
    from scene3d.distill import plan_members

    for text in ("{not json", '{"members": []}', '{"members": [], "seeds": []}', '{"members": ["a"], "seeds": [1, 2]}'):
        (tmp_path / "members.json").write_text(text)
        with pytest.raises(SceneFormatError, match="not a members record"):
            member_folders(tmp_path)
        with pytest.raises(SceneFormatError, match="not a members record"):
            plan_members(tmp_path, 2, 0)
    assert main(["eval-segmentation", f"data={tmp_path}", f"checkpoint={tmp_path}", "split=null"]) == 2
    err = capsys.readouterr().err
    assert "members.json: not a members record" in err and len(err.strip().splitlines()) == 1, err
