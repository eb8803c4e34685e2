"""Procedural indoor scenes: the embedded default data (needs no download)."""

from scene3d.synth.dataset import DatasetSummary, format_table, generate_dataset
from scene3d.synth.generate import ROOM_TYPES, SynthConfig, generate_scene

__all__ = [
    "DatasetSummary", "ROOM_TYPES", "SynthConfig", "format_table", "generate_dataset",
    "generate_scene",
]
