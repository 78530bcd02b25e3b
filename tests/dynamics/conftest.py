"""Run the dynamics tests single-threaded: their many small tensor ops slow down by an order of
magnitude when torch's thread pool competes for 2 busy cores. The previous setting is restored."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
