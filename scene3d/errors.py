"""Typed errors shared by every stage.

Each error message names what was wrong and, where there is one, the file and
the fix, so that a user never has to read a numpy traceback.
"""

from __future__ import annotations

from pathlib import Path


class Scene3DError(Exception):
    """Base class of every error scene3d raises on purpose."""


class SceneValidationError(Scene3DError, ValueError):
    """An in-memory structure (Scene, SceneObject, Frame, ...) is inconsistent."""


class SceneFormatError(Scene3DError, ValueError):
    """A file on disk is malformed; the message always names the file.

    Args:
        path: the offending file (or folder).
        problem: what is wrong with it, and the fix when there is an obvious one.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        """Pickled with both arguments (it crosses process boundaries, e.g. from a worker)."""
        return type(self), (self.path, self.problem)


class ConfigError(Scene3DError, ValueError):
    """A command-line or config value is missing or invalid."""
