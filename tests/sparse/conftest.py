"""Shared settings of the sparse tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_intra_op_thread() -> Iterator[None]:
    """Run on one intra-op thread, then restore.

    The test tensors are tiny, so threads only add OpenMP barriers; on a shared 2-core
    runner a barrier waits for a descheduled sibling thread and a 2 s test took 55 s.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
