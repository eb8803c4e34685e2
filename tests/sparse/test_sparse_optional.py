"""spconv stays optional: the core imports without it and the adapter explains the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from scene3d.sparse import SparseTensor, spconv_adapter


def test_core_import_does_not_import_spconv() -> None:
    code = "import sys, scene3d.sparse, scene3d.models; assert 'spconv' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_adapter_without_spconv_raises_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spconv_adapter, "spconv_available", lambda: False)
    x = SparseTensor(torch.zeros(1, 2), torch.zeros(1, 4, dtype=torch.int32))
    with pytest.raises(ImportError, match="pip install spconv"):
        spconv_adapter.SpconvSubMConv3d(2, 2)(x)
