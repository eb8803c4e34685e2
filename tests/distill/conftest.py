"""One torch thread for the distillation tests: the sparse core's index_add_ slows down badly when two
threads share two busy cores."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
