"""Shared fixtures: the real data in ../shared/data (tests using it skip when it is absent)."""

import subprocess
from pathlib import Path

import pytest
import torch

# Children are spawned with fork, not vfork (CPython's documented escape hatch). In the full suite's
# one process, after ~530 tests had loaded OpenVINO, ONNX Runtime, PyAV and torch, the next
# subprocess.run (tests/test_studio.py) killed pytest itself with SIGSEGV and no faulthandler
# output, twice at the same test; the same tests in smaller groups passed. A vfork child shares the
# parent's memory until exec, so its crash can take the parent down; a forked child's cannot.
subprocess._USE_VFORK = False

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests use tiny networks: one thread is as fast, and far faster when the other core is busy."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _own_measurement_cache(tmp_path_factory):
    """Measured choices (backends, training settings) go to a fresh folder: a test never reads the
    user's cache, and never leaves a choice timed on tiny networks in it."""
    import os

    from retouch.measured import CACHE_ENV

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("measured"))
    yield
    if old is None:
        del os.environ[CACHE_ENV]
    else:
        os.environ[CACHE_ENV] = old


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
