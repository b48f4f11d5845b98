"""Shared fixtures and markers of the test suite.

- ``requires_cuda``: a marker that skips a test where no CUDA device is present;
- ``gen(seed)`` / the ``generator`` fixture: a seeded CPU :class:`torch.Generator`;
- ``tiny_config``: a :class:`~mi_utils.train.TrainConfig` small enough for unit tests;
- ``gaussian_task``: a 3-dimensional correlated Gaussian with 1 nat of MI.
"""

from __future__ import annotations

import pytest
import torch

from mi_utils.tasks import CorrelatedGaussian
from mi_utils.train import TrainConfig

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=[requires_cuda, pytest.mark.gpu])]

#: Small enough that a few hundred steps of several runs take a second on one CPU thread.
TINY = TrainConfig(batch_size=8, hidden_dim=16, embed_dim=4, lr=1e-2, chunk_steps=3)


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


@pytest.fixture
def generator() -> torch.Generator:
    return gen(0)


@pytest.fixture
def tiny_config() -> TrainConfig:
    return TINY


@pytest.fixture
def gaussian_task() -> CorrelatedGaussian:
    return CorrelatedGaussian.from_mi(1.0, dim=3)
