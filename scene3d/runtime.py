"""Process-wide settings: the thread policy of every ``scene3d`` command (set before torch is
imported) and scene3d's cache folder (:func:`cache_root`).

scene3d's models are small (the grounding model, MiniLM, the sparse UNet at demo sizes): their
operations are too short for a second OpenMP thread to pay off, and with every core busy
(a laptop running anything else) the OpenMP threads' barrier spinning stalls each operation
(``benchmarks/RESULTS.md``, "Thread policy": measured with ``benchmarks/bm_threads.py``).
So, unless the user says otherwise:

- ``OMP_WAIT_POLICY=PASSIVE``: a waiting OpenMP thread sleeps instead of spinning;
- one torch intra-op thread (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1 and
  ``torch.set_num_threads(1)``); data tools use worker processes (``workers=``) for the cores.

``SCENE3D_THREADS=N`` asks for N intra-op threads; a user's own ``OMP_NUM_THREADS`` or
``OMP_WAIT_POLICY`` is kept.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CACHE_ENV = "SCENE3D_CACHE_DIR"
OFF = "off"
THREADS_ENV = "SCENE3D_THREADS"
DEFAULT_THREADS = 1


def configure_threads() -> int:
    """Apply the thread policy to this process (and the worker processes it starts).

    Returns:
        the number of torch intra-op threads in force.

    Raises:
        ValueError: ``SCENE3D_THREADS`` is not a positive integer.
    """
    asked = os.environ.get(THREADS_ENV)
    if asked is not None:
        if not asked.isdigit() or int(asked) < 1:
            raise ValueError(f"{THREADS_ENV}={asked!r}: give a positive number of threads (e.g. 1)")
        threads = int(asked)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = asked
    else:
        threads = int(os.environ.setdefault("OMP_NUM_THREADS", str(DEFAULT_THREADS)))
        os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read by OpenMP when torch is first imported
    if "torch" in sys.modules:                            # imported already (Python API, tests)
        sys.modules["torch"].set_num_threads(threads)
    return threads


def is_main_process() -> bool:
    """Whether this process reports and writes: rank 0 under torchrun (``RANK``), or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def cache_root() -> Path | None:
    """scene3d's cache folder, shared by its on-disk caches (sentence embeddings, the native
    sparse kernels): ``$SCENE3D_CACHE_DIR``, else ``$XDG_CACHE_HOME/scene3d``, else
    ``~/.cache/scene3d``; None when ``SCENE3D_CACHE_DIR=off``. Safe to delete at any time."""
    asked = os.environ.get(CACHE_ENV)
    if asked is not None:
        return None if asked.strip().lower() == OFF else Path(asked).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scene3d"
