"""Typed access to parsed JSON with errors that name the file and the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from scene3d.errors import SceneFormatError

_MISSING = object()


def read_json(path: Path) -> Any:
    """Parse a JSON file; SceneFormatError when it is missing or malformed."""
    if not path.is_file():
        raise SceneFormatError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SceneFormatError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SceneFormatError(path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


class Fields:
    """Reads typed fields of one JSON object, naming ``path`` and ``where`` on error."""

    def __init__(self, obj: Any, path: Path, where: str):
        if not isinstance(obj, dict):
            raise SceneFormatError(path, f"{where} must be a JSON object, got {type(obj).__name__}")
        self.obj, self.path, self.where = obj, path, where

    def fail(self, key: str, problem: str) -> SceneFormatError:
        return SceneFormatError(self.path, f"{self.where}.{key} {problem}")

    def _raw(self, key: str, default: Any) -> Any:
        if key not in self.obj:
            if default is _MISSING:
                raise self.fail(key, "is missing")
            return default
        return self.obj[key]

    def str(self, key: str, default: Any = _MISSING, *, optional: bool = False) -> Any:
        value = self._raw(key, default)
        if value is None and (optional or default is None):
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {json.dumps(value)[:40]}")
        return value

    def int(self, key: str, default: Any = _MISSING, *, optional: bool = False) -> Any:
        value = self._raw(key, default)
        if value is None and (optional or default is None):
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {json.dumps(value)[:40]}")
        return value

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self._raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {json.dumps(value)[:40]}")
        return value

    def float(self, key: str, default: Any = _MISSING) -> Any:
        value = self._raw(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {json.dumps(value)[:40]}")
        return float(value)

    def list(self, key: str, default: Any = _MISSING) -> list:
        value = self._raw(key, default)
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {type(value).__name__}")
        return value

    def array(self, key: str, shape: tuple[int, ...], dtype: type = np.float64,
              default: Any = _MISSING, *, optional: bool = False) -> Any:
        """A numeric array of exactly ``shape``; finite; integers in range for int dtypes."""
        value = self._raw(key, default)
        if value is None and (optional or default is None):
            return None
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.fail(key, f"must be a numeric array of shape {shape}") from None
        if arr.shape != shape:
            raise self.fail(key, f"must have shape {shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise self.fail(key, "contains NaN or infinity")
        if np.issubdtype(np.dtype(dtype), np.integer):
            info = np.iinfo(dtype)
            if (arr != np.round(arr)).any() or arr.min() < info.min or arr.max() > info.max:
                raise self.fail(key, f"must hold integers in [{info.min}, {info.max}]")
        return arr.astype(dtype)
