"""Grounding under DDP: 2 processes (gloo, 127.0.0.1) follow the loss curve of 1 process with the same
global batch; a run interrupted mid-way (one process or two) resumes to exactly the uninterrupted
result; ranks that would resume from different checkpoints stop before training."""

import csv
import os
import socket
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from scene3d.graph import build_scene_graph
from scene3d.grounding import GroundingDataset
from scene3d.grounding.trainer import GroundingTrainConfig, train_grounding
from scene3d.language import LanguageConfig, generate_language
from scene3d.models.grounding import GroundingConfig
from scene3d.synth import SynthConfig, generate_scene

STEPS = 4
# no dropout (its draws differ per process) and no caption InfoNCE (its negatives are per process)
CFG = GroundingTrainConfig(steps=STEPS, batch_size=8, checkpoint_every=STEPS, eval_every=STEPS, w_object=0.0,
                           w_scene=0.0, model=GroundingConfig(dim=32, layers=1, heads=2, dropout=0.0),
                           device="cpu")   # gloo and bit-exact CPU results, also where a GPU is present


def _data() -> GroundingDataset:
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    scenes = {s.scene_id: s for s in (generate_scene(f"d{i}", 70 + i, None, cfg) for i in range(2))}
    utts = [u for s in scenes.values() for u in generate_language(build_scene_graph(s), seed=1,
                                                                   config=LanguageConfig(per_target=2))]
    return GroundingDataset.build(scenes, utts)


# dropout on and 6 steps: what an exact resume must reproduce
RESUME_CFG = replace(CFG, steps=6, checkpoint_every=2, eval_every=6, model=replace(CFG.model, dropout=0.1))


class _Killed(Exception):
    pass


def _train(out, cfg: GroundingTrainConfig, stop_at: int | None = None) -> None:
    """Train; with ``stop_at``, die (like a kill) when step ``stop_at`` computes its losses."""
    import scene3d.grounding.trainer as trainer

    real, calls = trainer._losses, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == stop_at:
            raise _Killed
        return real(*args, **kwargs)

    trainer._losses = dying if stop_at else real
    try:
        train_grounding(_data(), out, cfg, progress=False)
    finally:
        trainer._losses = real


def _worker(rank: int, world: int, port: int, out: str | list[str], cfg: GroundingTrainConfig = CFG,
            stop_at: int | None = None) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    try:
        _train(out[rank] if isinstance(out, list) else out, cfg, stop_at)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _losses(run) -> dict[int, float]:
    with open(run / "metrics.csv") as f:
        return {int(float(r["step"])): float(r["loss"]) for r in csv.DictReader(f)}


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    os.environ.pop("WORLD_SIZE", None)
    train_grounding(_data(), tmp_path / "single", CFG, progress=False)
    ddp, single = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert list(ddp) == list(single) == [STEPS]
    assert ddp[STEPS] == pytest.approx(single[STEPS], rel=1e-4)
    a = load_file(str(tmp_path / "ddp" / "checkpoints" / f"step_{STEPS:08d}" / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "checkpoints" / f"step_{STEPS:08d}" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)
    assert (tmp_path / "ddp" / "calibration.json").is_file()


def _same_weights(a, b, step: int) -> None:
    wa = load_file(str(a / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))
    wb = load_file(str(b / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)


def test_interrupted_run_resumes_exactly_on_one_process(tmp_path):
    os.environ.pop("WORLD_SIZE", None)
    _train(tmp_path / "straight", RESUME_CFG)
    with pytest.raises(_Killed):
        _train(tmp_path / "cut", RESUME_CFG, stop_at=5)           # dies in step 5: the step-4 checkpoint is kept
    assert (tmp_path / "cut" / "checkpoints" / "latest").read_text().strip() == "step_00000004"
    _train(tmp_path / "cut", RESUME_CFG)
    _same_weights(tmp_path / "straight", tmp_path / "cut", RESUME_CFG.steps)
    assert _losses(tmp_path / "cut")[RESUME_CFG.steps] == _losses(tmp_path / "straight")[RESUME_CFG.steps]


@pytest.mark.slow
def test_interrupted_two_process_run_resumes_exactly(tmp_path):
    import torch.multiprocessing as mp

    run = lambda out, stop=None: mp.spawn(_worker, args=(2, _free_port(), str(out), RESUME_CFG, stop),  # noqa: E731
                                          nprocs=2, join=True)
    run(tmp_path / "straight")
    with pytest.raises(Exception, match="_Killed"):
        run(tmp_path / "cut", 5)
    run(tmp_path / "cut")
    _same_weights(tmp_path / "straight", tmp_path / "cut", RESUME_CFG.steps)
    a, b = _losses(tmp_path / "straight"), _losses(tmp_path / "cut")
    assert b[RESUME_CFG.steps] == pytest.approx(a[RESUME_CFG.steps], rel=1e-6)


@pytest.mark.slow
def test_ranks_resuming_from_different_steps_stop_before_training(tmp_path):
    """Node 0 sees a run with a checkpoint, node 1 an empty folder (no shared filesystem)."""
    import torch.multiprocessing as mp

    os.environ.pop("WORLD_SIZE", None)
    _train(tmp_path / "node0", replace(RESUME_CFG, steps=2))
    before = sorted(p.name for p in (tmp_path / "node0" / "checkpoints").iterdir())
    with pytest.raises(Exception, match="ResumeMismatchError") as err:
        mp.spawn(_worker, args=(2, _free_port(), [str(tmp_path / "node0"), str(tmp_path / "node1")], RESUME_CFG),
                 nprocs=2, join=True)
    assert "rank 0: step 2, rank 1: step 0" in str(err.value)
    assert sorted(p.name for p in (tmp_path / "node0" / "checkpoints").iterdir()) == before   # nothing written
