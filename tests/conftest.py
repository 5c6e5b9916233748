"""Shared test helpers: how to build a small instance of every registered model and an input for it."""

from __future__ import annotations

import pytest
import torch

import rnnzoo

# Spatial models read (B, T, C, Y, X): a tiny image keeps gradcheck fast.
SPATIAL_SHAPE = (4, 4)


def is_spatial(name: str) -> bool:
    return rnnzoo.model_info(name).input_kind == rnnzoo.InputKind.IMAGE_SEQUENCE


def make_input(name: str, batch: int, steps: int, input_size: int, *, dtype=torch.float32,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """A random batch-first input for the model ``name`` (from its entry's input kind)."""
    return rnnzoo.model_info(name).input_kind.example(batch, steps, input_size, spatial=SPATIAL_SHAPE,
                                                       dtype=dtype, generator=generator)


def make_model(name: str, input_size: int = 3, hidden_size: int = 4, **kw) -> rnnzoo.Model:
    torch.manual_seed(0)
    return rnnzoo.create(name, input_size=input_size, hidden_size=hidden_size, **kw)


@pytest.fixture(autouse=True)
def _fresh_seed():
    torch.manual_seed(1234)
    yield
