"""The native CPU kernels of sparse convolution, compiled once per machine.

``csrc/table_conv.cpp`` computes a convolution output-stationary from the dense neighbour
table of a kernel map (:func:`table_conv`): each output row sums
``features[table[o, k]] @ weight[k]`` over its offsets in vector registers and is written
once, so there is no gathered block, no scatter and no per-offset call. Its weight gradient
(:func:`pair_wgrad`) accumulates each offset's pairs in registers, a block of pairs at a
time. ``functional._GatherScatterConv`` uses both on the CPU, in float32 and float64: the
forward pass, the input gradient (the transposed table) and the weight gradient.

The source has a plain C ABI (no torch headers): the system C++ compiler (``$CXX``, else
``c++``) builds it in about a second, for this CPU (``-march=native``), with OpenMP when
the compiler has it. The library is cached in ``native/`` of scene3d's cache folder
(:func:`scene3d.runtime.cache_root`: ``$SCENE3D_CACHE_DIR``, else ``$XDG_CACHE_HOME/scene3d``,
else ``~/.cache/scene3d``; with ``SCENE3D_CACHE_DIR=off``, a temporary folder of the
process, so every process builds its own), named by a hash of
the source, the compiler, its flags and the CPU, and written atomically (processes that
build at once each write a whole file). Without a compiler, or with ``SCENE3D_NATIVE=0``,
:func:`library` is None and callers keep their PyTorch path; a failed build says why once.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from scene3d.runtime import cache_root

SOURCE = Path(__file__).with_name("csrc") / "table_conv.cpp"
_FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=c++17")
_MAX_VECTORS = 16                                    # output columns per call: 16 vectors


def _library_dir() -> Path:
    """``native/`` of scene3d's cache folder; a folder of this process when the cache is off."""
    root = cache_root()
    return root / "native" if root is not None else Path(tempfile.mkdtemp(prefix="scene3d-native-"))


def _cpu() -> str:
    """The CPU model and instruction-set flags (so a shared cache never serves another CPU)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    keep = [line for line in lines if line.startswith(("model name", "flags", "Features"))]
    return "\n".join(sorted(set(keep)))


def _build(compiler: str, target: Path) -> str | None:
    """Compile :data:`SOURCE` into ``target``; the error text when it fails. The compiler
    writes a uniquely named sibling (with the mode the umask gives) that is renamed onto
    ``target``, so a reader never loads half a library."""
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for extra in (("-fopenmp",), ()):                # without OpenMP when the compiler has none
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            done = subprocess.run([compiler, *_FLAGS, *extra, "-o", str(tmp), str(SOURCE)],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode == 0:
                os.replace(tmp, target)
                return None
            errors.append((done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1])
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(str(exc))
        finally:
            tmp.unlink(missing_ok=True)
    return "; ".join(errors)


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, built on first use; None when ``SCENE3D_NATIVE=0``, on a
    platform other than Linux or macOS, or when no compiler builds it (a warning says why)."""
    if os.environ.get("SCENE3D_NATIVE", "1") == "0" or not sys.platform.startswith(("linux", "darwin")):
        return None
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        warnings.warn("scene3d: no C++ compiler ($CXX or c++) found: sparse convolution keeps its "
                      "slower PyTorch path on the CPU", RuntimeWarning, stacklevel=2)
        return None
    key = hashlib.sha256("\n".join([SOURCE.read_text(), compiler, " ".join(_FLAGS), _cpu()]).encode())
    target = _library_dir() / f"table_conv_{key.hexdigest()[:16]}.so"
    if not target.is_file():
        error = _build(compiler, target)
        if error is not None:
            warnings.warn(f"scene3d: building the native sparse-convolution kernel failed ({error}): "
                          "sparse convolution keeps its slower PyTorch path on the CPU", RuntimeWarning, stacklevel=2)
            return None
    lib = ctypes.CDLL(str(target))
    lib.scene3d_vector_bytes.restype = ctypes.c_int
    for fn in (lib.scene3d_table_conv_f32, lib.scene3d_table_conv_f64):
        fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 4 + [ctypes.c_int]
        fn.restype = ctypes.c_int
    lib.scene3d_fill_table.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 2 + [ctypes.c_void_p]
    lib.scene3d_fill_table.restype = None
    for fn in (lib.scene3d_pair_wgrad_f32, lib.scene3d_pair_wgrad_f64):
        fn.argtypes = [ctypes.c_void_p] * 6 + [ctypes.c_int64] * 3 + [ctypes.c_int]
        fn.restype = ctypes.c_int
    return lib


#: The widest convolution (C_in * C_out) the kernels take on: wider ones keep the PyTorch path,
#: whose GEMMs (oneDNN) are faster there (benchmarks/RESULTS.md, the native kernel).
MAX_WIDTH = 64 * 64


def supports(features: Tensor, weight: Tensor) -> bool:
    """Whether the convolution ``features`` (N, C_in) x ``weight`` (K, C_in, C_out) should run
    on these kernels: CPU float32 or float64 tensors of one dtype, C_in * C_out at most
    :data:`MAX_WIDTH`, and a built library."""
    return (features.device.type == "cpu" and weight.device.type == "cpu"
            and features.dtype in (torch.float32, torch.float64) and weight.dtype == features.dtype
            and weight.shape[1] * weight.shape[2] <= MAX_WIDTH and library() is not None)


def _column_blocks(lib: ctypes.CDLL, columns: int, dtype: torch.dtype) -> tuple[int, list[tuple[int, int]]]:
    """(columns padded to whole vectors, the (start, stop) blocks of at most 16 vectors that one
    kernel call takes)."""
    lanes = lib.scene3d_vector_bytes() // torch.empty((), dtype=dtype).element_size()
    padded = -(-columns // lanes) * lanes
    width = _MAX_VECTORS * lanes
    return padded, [(c0, min(padded, c0 + width)) for c0 in range(0, padded, width)]


def _pad_columns(x: Tensor, padded: int) -> Tensor:
    return torch.nn.functional.pad(x, (0, padded - x.shape[-1])) if padded != x.shape[-1] else x


def _check_rows(name: str, rows: Tensor, n: int) -> None:
    """The kernels read rows without bounds checks: every index must be -1 or a row below ``n``."""
    if rows.numel():
        lo, hi = torch.aminmax(rows)
        if int(lo) < -1 or int(hi) >= n:
            raise RuntimeError(f"{name} holds rows {int(lo)} .. {int(hi)}, outside -1 .. {n - 1}")


def _built() -> ctypes.CDLL:
    lib = library()
    if lib is None:
        raise RuntimeError("the native sparse-convolution kernel is not built (scene3d.sparse.native.library())")
    return lib


def fill_table(rows: Tensor, vals: Tensor, ptr: list[int], n: int) -> Tensor:
    """``(n, K)`` int32 table with ``table[rows[m], k] = vals[m]`` for the pairs ``m`` of offset
    ``k`` (``[ptr[k], ptr[k+1])``) and -1 elsewhere: a kernel map's neighbour table
    (``KernelMap.neighbor_table(side, torch.int32)`` calls it).

    Raises:
        RuntimeError: the library is not built, a row is not below ``n``, or a value does not
            fit int32.
    """
    lib = _built()
    _check_rows("rows", rows, n)
    if vals.numel() and int(vals.max()) >= 2**31:
        raise RuntimeError(f"row {int(vals.max())} does not fit the kernels' int32 tables")
    rows, vals = rows.contiguous(), vals.contiguous()
    offsets = torch.tensor(ptr, dtype=torch.int64)
    table = torch.empty(n, len(ptr) - 1, dtype=torch.int32)
    lib.scene3d_fill_table(rows.data_ptr(), vals.data_ptr(), offsets.data_ptr(), len(ptr) - 1, n, table.data_ptr())
    return table


def table_conv(features: Tensor, weight: Tensor, table: Tensor) -> Tensor:
    """``out[o] = sum_k features[table[o, k]] @ weight[k]`` over ``table[o, k] >= 0``.

    Args:
        features: ``(n_in, C_in)`` CPU float32 or float64.
        weight: ``(K, C_in, C_out)``, the features' dtype.
        table: ``(n_out, K)`` int32 input rows per output row and offset, -1 for none
            (``KernelMap.neighbor_table("out", torch.int32)``; ``"in"`` with ``weight``
            transposed to ``(K, C_out, C_in)`` gives the input gradient).
    Returns:
        ``(n_out, C_out)`` in the features' dtype. Not differentiable by itself (the
        convolution's ``autograd.Function`` calls it). Runs on ``torch.get_num_threads()``
        threads when built with OpenMP.
    Raises:
        RuntimeError: the library is not built (check :func:`supports` first), or the kernel
            refuses the shapes.
    """
    lib = _built()
    kvol, c_in, c_out = weight.shape
    if table.shape[1] != kvol or features.shape[1] != c_in or table.dtype != torch.int32:
        raise RuntimeError(f"table {tuple(table.shape)} {table.dtype}, features {tuple(features.shape)} and "
                           f"weight {tuple(weight.shape)} do not fit")
    _check_rows("table", table, features.shape[0])
    padded, blocks = _column_blocks(lib, c_out, features.dtype)
    w, f, table = _pad_columns(weight, padded), features.contiguous(), table.contiguous()
    fn = lib.scene3d_table_conv_f32 if features.dtype == torch.float32 else lib.scene3d_table_conv_f64
    parts = []
    for c0, c1 in blocks:
        wc = w[:, :, c0:c1].contiguous()
        out = f.new_empty(table.shape[0], c1 - c0)
        if fn(f.data_ptr(), wc.data_ptr(), table.data_ptr(), out.data_ptr(), table.shape[0], kvol, c_in, c1 - c0,
              torch.get_num_threads()) != 0:
            raise RuntimeError(f"the native kernel refused {c1 - c0} output columns")
        parts.append(out)
    out = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
    return out if padded == c_out else out[:, :c_out].contiguous()


def pair_wgrad(features: Tensor, grad_out: Tensor, in_idx: Tensor, out_idx: Tensor, ptr: list[int]) -> Tensor:
    """``grad_w[k] = features[in_idx[m]]^T @ grad_out[out_idx[m]]`` summed over the pairs
    ``m`` in ``[ptr[k], ptr[k+1])``: a convolution's weight gradient from its kernel map.

    Args:
        features: ``(n_in, C_in)`` CPU float32 or float64.
        grad_out: ``(n_out, C_out)``, the features' dtype.
        in_idx, out_idx: ``(M,)`` int64 pair rows grouped by offset (``KernelMap``).
        ptr: ``K + 1`` offsets into the pairs.
    Returns:
        ``(K, C_in, C_out)`` in the features' dtype.
    Raises:
        RuntimeError: the library is not built, or the shapes do not fit.
    """
    lib = _built()
    c_in, c_out, kvol = features.shape[1], grad_out.shape[1], len(ptr) - 1
    if in_idx.shape != out_idx.shape or in_idx.dtype != torch.int64 or out_idx.dtype != torch.int64 \
            or ptr[0] != 0 or ptr[-1] != in_idx.shape[0]:
        raise RuntimeError(f"pairs {tuple(in_idx.shape)} / {tuple(out_idx.shape)} and ptr [{ptr[0]} .. {ptr[-1]}] "
                           "do not fit")
    _check_rows("in_idx", in_idx, features.shape[0])
    _check_rows("out_idx", out_idx, grad_out.shape[0])
    padded, blocks = _column_blocks(lib, c_out, features.dtype)
    f, g = features.contiguous(), _pad_columns(grad_out, padded)
    in_idx, out_idx = in_idx.contiguous(), out_idx.contiguous()
    offsets = torch.tensor(ptr, dtype=torch.int64)
    fn = lib.scene3d_pair_wgrad_f32 if features.dtype == torch.float32 else lib.scene3d_pair_wgrad_f64
    parts = []
    for c0, c1 in blocks:
        gc = g[:, c0:c1].contiguous()
        gw = f.new_empty(kvol, c_in, c1 - c0)
        if fn(f.data_ptr(), gc.data_ptr(), in_idx.data_ptr(), out_idx.data_ptr(), offsets.data_ptr(), gw.data_ptr(),
              kvol, c_in, c1 - c0, torch.get_num_threads()) != 0:
            raise RuntimeError(f"the native kernel refused {c1 - c0} output columns")
        parts.append(gw)
    gw = parts[0] if len(parts) == 1 else torch.cat(parts, 2)
    return gw if padded == c_out else gw[:, :, :c_out].contiguous()
