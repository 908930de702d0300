"""Test setup: offline data from ../shared/data, wandb disabled, small thread counts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
JSPLIB = SHARED_DATA / "jsplib"
AZURE = SHARED_DATA / "azure-llm-2023"

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("SCHEDGYM_DATA_MIRROR", str(SHARED_DATA))  # every domain's local data mirror
os.environ.setdefault("SCHEDGYM_JSPLIB_MIRROR", str(JSPLIB))
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def jsplib_dir() -> Path:
    if not JSPLIB.is_dir():
        pytest.skip(f"shared benchmark data not found at {JSPLIB}")
    return JSPLIB


@pytest.fixture(scope="session")
def azure_dir() -> Path:
    if not AZURE.is_dir():
        pytest.skip(f"shared Azure trace not found at {AZURE}")
    return AZURE


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (the compiled GNN layers repeat bit for bit only there), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
