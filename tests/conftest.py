"""Shared test helpers: how to build a small instance of every registered model and an input for it."""

from __future__ import annotations

import pytest
import torch

import rnnzoo

# Spatial models read (B, T, C, Y, X): a tiny image keeps gradcheck fast.
SPATIAL_SHAPE = (4, 4)


def is_spatial(name: str) -> bool:
    return "spatial" in rnnzoo.model_info(name).capabilities


def make_input(name: str, batch: int, steps: int, input_size: int, *, dtype=torch.float32,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """A random batch-first input for the model ``name``."""
    shape = (batch, steps, input_size, *SPATIAL_SHAPE) if is_spatial(name) else (batch, steps, input_size)
    return torch.randn(*shape, dtype=dtype, generator=generator)


def make_model(name: str, input_size: int = 3, hidden_size: int = 4, **kw) -> rnnzoo.Model:
    torch.manual_seed(0)
    return rnnzoo.create(name, input_size=input_size, hidden_size=hidden_size, **kw)


@pytest.fixture(autouse=True)
def _fresh_seed():
    torch.manual_seed(1234)
    yield
