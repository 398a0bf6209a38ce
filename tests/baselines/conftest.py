"""Baseline tests run tiny models: one intra-op thread is faster for them (no thread spin-up,
no oversubscription when the suite runs beside other processes)."""

import pytest


@pytest.fixture(autouse=True)
def _single_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
