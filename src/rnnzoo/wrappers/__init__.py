"""Wrapper cells: cells around cells (regularisers, normalisation) that work for every cell."""

from rnnzoo.wrappers.base import Wrapper

__all__ = ["Wrapper"]
