"""Wrapper cells: cells around cells (regularisers, normalisation) that work for every cell.

Regularisers, each a cell (see each class for its paper): :class:`VariationalDropout` (Gal &
Ghahramani 2016), :class:`Zoneout` (Krueger et al. 2017), :class:`WeightDrop` (Merity et al. 2018),
:class:`LayerNorm` (Ba et al. 2016). ``rnnzoo.create(..., variational_dropout=, zoneout=, weight_drop=,
layer_norm=)`` stacks them, from the inside: cell -> LayerNorm -> WeightDrop -> Zoneout -> VariationalDropout.
"""

from rnnzoo.wrappers.base import Drawn, Wrapper
from rnnzoo.wrappers.layer_norm import LayerNorm
from rnnzoo.wrappers.variational_dropout import DropoutMasks, VariationalDropout
from rnnzoo.wrappers.weight_drop import WeightDrop, swap_parameters
from rnnzoo.wrappers.zoneout import Zoneout

REGULARISERS = ("variational_dropout", "zoneout", "weight_drop", "layer_norm")
"""The options of ``rnnzoo.create`` (and flags of ``rnnzoo train``) that wrap every cell; the trainer and the
benchmark read this list."""

__all__ = ["REGULARISERS", "Drawn", "DropoutMasks", "LayerNorm", "VariationalDropout", "WeightDrop", "Wrapper",
           "Zoneout", "swap_parameters"]
