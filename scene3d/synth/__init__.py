"""Procedural scenes: the embedded default data (needs no download)."""

from scene3d.synth.tiny import make_tiny_scene

__all__ = ["make_tiny_scene"]
