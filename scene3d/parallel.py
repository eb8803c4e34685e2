"""Run a function over independent items in worker processes, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def map_progress(fn: Callable[[T], R], items: Sequence[T], workers: int = 1, desc: str = "",
                 unit: str = "item", progress: bool = True) -> list[R]:
    """``[fn(x) for x in items]`` in input order, over ``workers`` processes (1 = in this
    process), with a tqdm bar. ``fn`` must be picklable (a module-level function or a
    functools.partial of one) when ``workers > 1``."""
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    try:
        if workers <= 1 or len(items) <= 1:
            out = []
            for x in items:
                out.append(fn(x))
                bar.update()
            return out
        with ProcessPoolExecutor(max_workers=workers) as pool:
            out = []
            for result in pool.map(fn, items, chunksize=max(1, len(items) // (workers * 8))):
                out.append(result)
                bar.update()
            return out
    finally:
        bar.close()
