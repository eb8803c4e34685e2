"""Small shared pieces of the distillation tests: a fake text encoder, tiny scenes, a tiny student."""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import torch

from scene3d.distill import DistillConfig, StudentConfig
from scene3d.io import save_scene
from scene3d.synth import SynthConfig, generate_scene
from scene3d.teachers import label_embedding_teacher

FAKE_DIM = 16


class FakeTextEncoder:
    """A stand-in for MiniLM: a fixed random unit vector per string (no model load)."""

    dim = FAKE_DIM

    def __call__(self, texts: list[str]):
        vecs = [torch.randn(FAKE_DIM, generator=torch.Generator().manual_seed(zlib.crc32(t.encode()))) for t in texts]
        return SimpleNamespace(pooled=torch.nn.functional.normalize(torch.stack(vecs), dim=-1))


def fake_teacher(**kwargs):
    """``label_embedding_teacher`` with the fake encoder (also a Hydra ``_target_`` for the CLI tests)."""
    return label_embedding_teacher(**kwargs, text_encoder=FakeTextEncoder())


def tiny_scenes(n: int = 2, points: int = 3000, frames: int = 3) -> list:
    cfg = SynthConfig(num_points=points, num_frames=frames, width=80, height=60)
    return [generate_scene(f"tiny_{i}", 50 + i, config=cfg) for i in range(n)]


def save_tiny_dataset(root, n: int = 2) -> None:
    for scene in tiny_scenes(n):
        save_scene(scene, root)


TINY_STUDENT = StudentConfig(voxel_size=0.1, hidden=16, stem_channels=8, encoder_channels=(16, 16),
                             decoder_channels=(16, 16), blocks=1)
TINY_STUDENT_OVERRIDES = ["student.voxel_size=0.1", "student.hidden=16", "student.stem_channels=8",
                          "student.encoder_channels=[16,16]", "student.decoder_channels=[16,16]"]


DDP_MODES = {"both": DistillConfig(num_rays=256, w_projection=0.5),
             "projection": DistillConfig(w_feature=0, w_depth=0, w_projection=1, projection_points=2048)}


def ddp_worker(rank: int, world: int, port: int, out: str, steps: int, mode: str) -> None:
    """One rank of the 2-process DDP test (gloo on 127.0.0.1)."""
    import os

    import torch.distributed as dist

    from scene3d.distill import pretrain
    from scene3d.train import LoopConfig

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    try:
        pretrain(tiny_scenes(), fake_teacher(), out, TINY_STUDENT, DDP_MODES[mode],
                 LoopConfig(steps=steps, batch_size=2, checkpoint_every=steps), progress=False, device="cpu")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def tiny_pretrain_run(tmp_path):
    """A one-step pretrain run (fake teacher, tiny student) on one tiny saved room, made by the CLI:
    (the run folder, the room's scene folder)."""
    from scene3d.cli import main

    save_tiny_dataset(tmp_path / "data", n=1)
    run = tmp_path / "run"
    assert main(["pretrain", f"data={tmp_path / 'data'}", f"out={run}", "split=null", "progress=false", "device=cpu",
                 "members=1", "teacher._target_=tests.distill._helpers.fake_teacher", "loop.steps=1", "loop.batch_size=1",
                 "distill.projection_points=512", *TINY_STUDENT_OVERRIDES]) == 0
    return run, tmp_path / "data" / "tiny_0"
