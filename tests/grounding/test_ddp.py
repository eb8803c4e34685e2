"""Grounding under DDP: 2 processes (gloo, 127.0.0.1) follow the loss curve of 1 process with the same global batch."""

import csv
import os
import socket

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
                           w_scene=0.0, model=GroundingConfig(dim=32, layers=1, heads=2, dropout=0.0))


def _data() -> GroundingDataset:
    cfg = SynthConfig(num_points=300, min_object_points=1, num_frames=0)
    scenes = {s.scene_id: s for s in (generate_scene(f"d{i}", 70 + i, None, cfg) for i in range(2))}
    utts = [u for s in scenes.values() for u in generate_language(build_scene_graph(s), seed=1,
                                                                   config=LanguageConfig(per_target=2))]
    return GroundingDataset.build(scenes, utts)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    try:
        train_grounding(_data(), out, CFG, progress=False)
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
