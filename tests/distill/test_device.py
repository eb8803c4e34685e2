"""Pretraining and features on a chosen device and precision; the commands' device / precision options."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from scene3d.cli import compose, main
from scene3d.distill import DistillConfig, load_student, point_features, pretrain
from scene3d.train import LoopConfig, resolve_device
from tests.distill._helpers import TINY_STUDENT, TINY_STUDENT_OVERRIDES, fake_teacher, save_tiny_dataset, tiny_scenes

CUDA = torch.cuda.is_available()
FAST = DistillConfig(num_rays=256, num_samples=128, projection_points=1024, w_projection=0.5)
LOOP = LoopConfig(steps=3, batch_size=2, checkpoint_every=3)


@pytest.fixture(scope="module")
def scenes():
    return tiny_scenes()


def _losses(run: Path) -> torch.Tensor:
    with open(run / "metrics.csv", newline="") as f:
        return torch.tensor([float(r["loss"]) for r in csv.DictReader(f)], dtype=torch.float64)


def test_pretrain_in_bf16_on_the_cpu_tracks_fp32(tmp_path, scenes):
    """CPU autocast bf16 (asked for explicitly): the student's convolutions and heads in bf16, the
    rendering and losses in fp32; the loss curve stays within 1 % of the fp32 one."""
    for precision in ("fp32", "bf16"):
        pretrain(scenes, fake_teacher(), tmp_path / precision, TINY_STUDENT, FAST, LOOP, progress=False,
                 device="cpu", precision=precision)
        assert json.loads((tmp_path / precision / "config.json").read_text())["precision"] == precision
    fp32, bf16 = _losses(tmp_path / "fp32"), _losses(tmp_path / "bf16")
    assert len(bf16) == 3 and bool(torch.isfinite(bf16).all())
    torch.testing.assert_close(bf16, fp32, rtol=1e-2, atol=0)
    assert not torch.equal(bf16, fp32)             # it did run in bf16


def test_device_and_precision_options_of_the_commands(tmp_path, capsys):
    for command in ("pretrain", "features", "search", "index", "eval-segmentation", "train-grounding"):
        cfg = compose(command, ["device=cpu"])
        assert compose(command, []).device == "auto" and resolve_device(cfg.device) == torch.device("cpu")
    for command in ("pretrain", "train-grounding"):
        assert compose(command, []).precision == "auto"
    save_tiny_dataset(tmp_path / "data")
    base = ["pretrain", f"data={tmp_path / 'data'}", f"out={tmp_path / 'run'}", "split=null", "progress=false", "members=1",
            "teacher._target_=tests.distill._helpers.fake_teacher", "loop.steps=1", "loop.batch_size=1",
            "distill.projection_points=512", *TINY_STUDENT_OVERRIDES]
    assert main([*base, "precision=fp8"]) == 2
    assert "precision=fp8: expected one of auto, fp32, bf16, fp16" in capsys.readouterr().err
    assert main([*base, "device=tpu"]) == 2
    assert "device=tpu: expected auto, cpu, cuda or cuda:N" in capsys.readouterr().err
    assert main(["train-grounding", f"out={tmp_path / 'g'}", "precision=double"]) == 2
    assert "precision=double" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "g").exists()     # refused before any work
    if not CUDA:
        assert main(["features", f"scene={tmp_path / 'data' / 'tiny_0'}", f"checkpoint={tmp_path / 'run'}",
                     f"out={tmp_path / 'f'}", "device=cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
        assert main(["search", f"index={tmp_path}", "query=a bed", "device=cuda:0"]) == 2
    assert main([*base, "device=cpu", "precision=fp32"]) == 0
    assert main(["features", f"scene={tmp_path / 'data' / 'tiny_0'}", f"checkpoint={tmp_path / 'run'}",
                 f"out={tmp_path / 'f'}", "device=cpu", "dtype=float32"]) == 0
    model, _ = load_student(tmp_path / "run")
    from scene3d.io import load_scene

    torch.testing.assert_close(load_file(str(tmp_path / "f" / "features.safetensors"))["point_features"],
                               point_features(model, load_scene(tmp_path / "data" / "tiny_0", frames=False)))


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_pretrain_on_cuda_in_bf16_tracks_the_cpu_in_fp32(tmp_path, scenes):
    """The same draws (CPU generators) and initial weights on both devices: the GPU's bf16 loss curve
    stays within 2 % of the CPU's fp32 one; a checkpoint's features agree across devices."""
    pretrain(scenes, fake_teacher(), tmp_path / "cpu", TINY_STUDENT, FAST, LOOP, progress=False, device="cpu",
             precision="fp32")
    gpu = pretrain(scenes, fake_teacher(), tmp_path / "gpu", TINY_STUDENT, FAST, LOOP, progress=False,
                   device="cuda", precision="bf16")
    assert next(gpu.parameters()).is_cuda
    torch.testing.assert_close(_losses(tmp_path / "gpu"), _losses(tmp_path / "cpu"), rtol=2e-2, atol=0)
    on_cpu, _ = load_student(tmp_path / "gpu", device="cpu")
    on_gpu, _ = load_student(tmp_path / "gpu", device="cuda")
    a, b = point_features(on_cpu, scenes[0]), point_features(on_gpu, scenes[0])
    assert b.device.type == "cpu"
    torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_features_command_on_cuda_matches_the_cpu(tmp_path):
    save_tiny_dataset(tmp_path / "data")
    assert main(["pretrain", f"data={tmp_path / 'data'}", f"out={tmp_path / 'run'}", "split=null", "progress=false",
                 "members=1", "teacher._target_=tests.distill._helpers.fake_teacher", "loop.steps=2", "loop.batch_size=1",
                 "device=cuda", "precision=bf16", *TINY_STUDENT_OVERRIDES]) == 0
    for device in ("cpu", "cuda"):
        assert main(["features", f"scene={tmp_path / 'data' / 'tiny_0'}", f"checkpoint={tmp_path / 'run'}",
                     f"out={tmp_path / device}", f"device={device}", "dtype=float32"]) == 0
    a = load_file(str(tmp_path / "cpu" / "features.safetensors"))
    b = load_file(str(tmp_path / "cuda" / "features.safetensors"))
    torch.testing.assert_close(b["point_features"], a["point_features"], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(b["scene_descriptor"], a["scene_descriptor"], rtol=1e-3, atol=1e-4)
