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


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs the CPU-bound tests in two workers) each worker uses one torch thread,
    so that two workers on two cores do not oversubscribe them."""
    import os
    if os.environ.get('PYTEST_XDIST_WORKER'):
        import torch
        torch.set_num_threads(1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every test of a module that talks over DDS (it imports `ros_harness`' RosClient) carries the `ros` marker,
    which `make test` runs apart from the parallel workers."""
    for item in items:
        module = getattr(item, 'module', None)
        if module is not None and hasattr(module, 'RosClient') and item.get_closest_marker('ros') is None:
            item.add_marker(pytest.mark.ros)
