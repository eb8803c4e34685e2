"""Fixtures of the viewer tests: a tiny data folder and a freshly initialised small grounding model."""

from __future__ import annotations

import pytest
import torch

from scene3d.grounding import Grounder
from scene3d.models.grounding import GroundingConfig, GroundingTransformer
from scene3d.synth import SynthConfig, generate_dataset


@pytest.fixture(scope="package")
def view_data(tmp_path_factory):
    """Two small synthetic rooms with two 64x48 camera frames each."""
    root = tmp_path_factory.mktemp("view_data")
    generate_dataset(root, 2, seed=3, progress=False, name="synth",
                     config=SynthConfig(num_points=12000, min_object_points=10, num_frames=2, width=64, height=48))
    return root


@pytest.fixture(scope="package")
def grounder():
    """An untrained (seeded) small model: the viewer only has to show what it returns."""
    torch.manual_seed(0)
    return Grounder(GroundingTransformer(GroundingConfig(dim=32, layers=1, heads=2)))
