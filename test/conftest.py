"""Test configuration: make the helper modules in test/ importable; shared fixtures."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one thread is faster than two, and far faster when other processes load the cores."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
