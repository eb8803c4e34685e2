"""The native CPU kernel (``scene3d.sparse.native``): against a naive loop, and its fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scene3d.sparse import SubMConv3d, native

from .dense_reference import sparse_input


def naive(features: torch.Tensor, weight: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    out = features.new_zeros(table.shape[0], weight.shape[2])
    for o in range(table.shape[0]):
        for k in range(table.shape[1]):
            if table[o, k] >= 0:
                out[o] += features[table[o, k]] @ weight[k]
    return out


@pytest.fixture
def built():
    if native.library() is None:
        pytest.skip("the native sparse-convolution kernel is not built here (no C++ compiler)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c_out", [1, 5, 8, 33, 300])      # padded to whole vectors; 300: split into calls
def test_table_conv_matches_a_naive_loop(built, dtype, c_out) -> None:
    gen = torch.Generator().manual_seed(c_out)
    features = torch.randn(23, 6, generator=gen, dtype=dtype)
    weight = torch.randn(4, 6, c_out, generator=gen, dtype=dtype)
    table = torch.randint(-1, 23, (17, 4), generator=gen, dtype=torch.int32)
    table[0] = -1                                            # an output without neighbours: zeros
    out = native.table_conv(features, weight, table)
    assert out.shape == (17, c_out) and out.dtype == dtype and (out[0] == 0).all()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, naive(features, weight, table), **tol)
    # a transposed weight view (the input gradient's) gives the same as its contiguous copy
    wt = torch.randn(4, c_out, 6, generator=gen, dtype=dtype).transpose(1, 2)
    torch.testing.assert_close(native.table_conv(features, wt, table), naive(features, wt, table), **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c_out", [3, 16, 300])
def test_pair_wgrad_matches_a_naive_sum(built, dtype, c_out) -> None:
    gen = torch.Generator().manual_seed(c_out)
    features = torch.randn(30, 5, generator=gen, dtype=dtype)
    grad_out = torch.randn(20, c_out, generator=gen, dtype=dtype)
    ptr = [0, 70, 70, 200, 201]                                # offset 1 has no pairs: zeros
    in_idx, out_idx = torch.randint(0, 30, (201,), generator=gen), torch.randint(0, 20, (201,), generator=gen)
    want = torch.stack([features[in_idx[a:b]].T @ grad_out[out_idx[a:b]] for a, b in zip(ptr[:-1], ptr[1:])])
    got = native.pair_wgrad(features, grad_out, in_idx, out_idx, ptr)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-4)
    assert got.shape == (4, 5, c_out) and (got[1] == 0).all()
    torch.testing.assert_close(got, want, **tol)


def test_kernels_refuse_shapes_that_do_not_fit(built) -> None:
    with pytest.raises(RuntimeError, match="do not fit"):
        native.table_conv(torch.zeros(3, 2), torch.zeros(4, 2, 8), torch.zeros(5, 3, dtype=torch.int32))
    with pytest.raises(RuntimeError, match="outside -1 .. 2"):                # a row past the features
        native.table_conv(torch.zeros(3, 2), torch.zeros(4, 2, 8), torch.full((5, 4), 3, dtype=torch.int32))
    pairs = torch.zeros(6, dtype=torch.int64)
    with pytest.raises(RuntimeError, match="do not fit"):
        native.pair_wgrad(torch.zeros(3, 2), torch.zeros(4, 8), pairs, pairs, [0, 2, 5])
    with pytest.raises(RuntimeError, match="outside -1 .. 3"):
        native.pair_wgrad(torch.zeros(3, 2), torch.zeros(4, 8), pairs, pairs + 4, [0, 2, 6])
    with pytest.raises(RuntimeError, match="outside -1 .. 4"):
        native.fill_table(pairs + 5, pairs, [0, 6], 5)


@pytest.mark.parametrize("builder", ["native", "torch"])
def test_int32_neighbor_table_equals_the_int64_one(built, builder, monkeypatch) -> None:
    if builder == "torch":
        monkeypatch.setattr(native, "library", lambda: None)
    x = sparse_input(torch.Generator().manual_seed(1), [80, 30], 6, 2, torch.float32)
    for kmap in (x.manager.kernel_map(1, 1, 3, 1), x.manager.kernel_map(1, 2, 2, 1)):
        for side in ("out", "in"):
            table = kmap.neighbor_table(side, torch.int32)
            assert table.dtype == torch.int32 and kmap.neighbor_table(side, torch.int32) is table     # cached
            torch.testing.assert_close(table.long(), kmap.neighbor_table(side), rtol=0, atol=0)
    with pytest.raises(ValueError, match="dtype"):
        kmap.neighbor_table("out", torch.float32)


def test_the_convolution_takes_the_native_path_when_built(built, monkeypatch) -> None:
    calls = []
    table_conv, pair_wgrad = native.table_conv, native.pair_wgrad
    monkeypatch.setattr(native, "table_conv", lambda *a: calls.append("table") or table_conv(*a))
    monkeypatch.setattr(native, "pair_wgrad", lambda *a: calls.append("pairs") or pair_wgrad(*a))
    x = sparse_input(torch.Generator().manual_seed(0), [60], 6, 4, torch.float32)
    feats = x.features.clone().requires_grad_(True)
    SubMConv3d(4, 8, 3)(x.replace_features(feats)).features.sum().backward()
    assert calls == ["table", "table", "pairs"]              # forward, input and weight gradients
    calls.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):        # low-precision GEMMs: the PyTorch path
        SubMConv3d(4, 8, 3)(x)
    assert calls == []
    wide = sparse_input(torch.Generator().manual_seed(0), [60], 6, 96, torch.float32)
    SubMConv3d(96, 96, 3)(wide)                              # wider than MAX_WIDTH: the PyTorch path
    assert calls == []


@pytest.fixture
def fresh_library(tmp_path, monkeypatch):
    """The library looked up anew, with its cache in ``tmp_path``; the cached one restored after."""
    monkeypatch.setenv("SCENE3D_CACHE_DIR", str(tmp_path))
    native.library.cache_clear()
    yield tmp_path
    native.library.cache_clear()


def test_switched_off_or_without_a_compiler_the_library_is_none(fresh_library, monkeypatch) -> None:
    monkeypatch.setenv("SCENE3D_NATIVE", "0")
    assert native.library() is None
    monkeypatch.delenv("SCENE3D_NATIVE")
    native.library.cache_clear()
    monkeypatch.setenv("CXX", str(fresh_library / "no-such-compiler"))
    with pytest.warns(RuntimeWarning, match="no C.. compiler"):
        assert native.library() is None
    assert not native.supports(torch.zeros(2, 2), torch.zeros(1, 2, 2))


def test_a_failed_build_warns_and_leaves_nothing(fresh_library, monkeypatch) -> None:
    monkeypatch.setenv("CXX", "false")                       # a "compiler" that always fails
    with pytest.warns(RuntimeWarning, match="building the native sparse-convolution kernel failed"):
        assert native.library() is None
    assert not list((fresh_library / "native").iterdir())    # no half-written library


def test_the_library_is_built_once_into_the_cache(built, fresh_library) -> None:
    lib = native.library()
    assert lib is not None and native.library() is lib
    (built_file,) = (fresh_library / "native").iterdir()
    assert built_file.suffix == ".so" and built_file.stat().st_size > 0
    native.library.cache_clear()
    stamp = built_file.stat().st_mtime_ns
    native.library()                                         # found in the cache, not rebuilt
    assert built_file.stat().st_mtime_ns == stamp


def test_with_the_cache_off_the_library_is_built_for_the_process(built, fresh_library, monkeypatch) -> None:
    monkeypatch.setenv("SCENE3D_CACHE_DIR", "off")
    lib = native.library()
    assert lib is not None and not (fresh_library / "native").exists()
    assert Path(lib._name).parent.name.startswith("scene3d-native-")
