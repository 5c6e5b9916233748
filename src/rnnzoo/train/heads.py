"""A recurrent backbone (any registered model) with a linear output head.

The head is the output layer of 001 eq (3), ``y_t = W_HO h_t + b_O``, applied where the task needs
an output:

* ``"last"``: at each sequence's last valid step (regression or classification from the final
  step, e.g. the adding problem). For a bidirectional model the output at that step is the
  concatenation of the forward direction's last state and the backward direction's output there.
* ``"per_step"``: at every step (sequence labelling, e.g. copy memory).
* ``"next_token"``: at every step, the output at step t being scored against the label at step
  t+1 (language modelling: shifted targets; see :mod:`rnnzoo.train.objective`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

import rnnzoo

HEAD_KINDS = ("last", "per_step", "next_token")


def last_valid(output: Tensor, lengths: Tensor | None) -> Tensor:
    """The output at each sequence's last valid step: ``(B, T, H) -> (B, H)``.

    ``lengths`` ``(B,)`` (None: every sequence has length T).
    """
    if lengths is None:
        return output[:, -1]
    idx = (lengths.to(output.device, torch.long) - 1).clamp(min=0)
    return output[torch.arange(output.shape[0], device=output.device), idx]


class SequenceModel(nn.Module):
    """Backbone ``rnnzoo.create(model, ...)`` + ``nn.Linear`` head.

    Args:
        model: a registry name (:func:`rnnzoo.list_models`).
        input_size: I, features per step.
        output_size: O, regression outputs or classes.
        hidden_size: H, units per direction and layer.
        head: ``"last"``, ``"per_step"`` or ``"next_token"`` (see the module docstring).
        num_layers, bidirectional, dropout: as :func:`rnnzoo.create`.
        variational_dropout, zoneout, weight_drop, layer_norm: the regularisers of :func:`rnnzoo.create`
            (wrapper cells around every layer's cells; random ones act in training mode).
        options: the cell's own options (e.g. ``{"forget_bias": 1.0}``).

    Shapes: ``x`` ``(B, T, I)``, ``lengths`` ``(B,)``; ``forward`` returns ``(y, state)`` with ``y``
    ``(B, O)`` for ``"last"`` and ``(B, T, O)`` otherwise.

    ``config`` is a plain dict: ``SequenceModel.from_config(m.config)`` rebuilds the model.
    """

    def __init__(self, model: str, *, input_size: int, output_size: int, hidden_size: int,
                 head: str = "last", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, variational_dropout: float | dict[str, float] | None = None,
                 zoneout: float | dict[str, float] | None = None, weight_drop: float | None = None,
                 layer_norm: bool = False, options: dict[str, Any] | None = None) -> None:
        super().__init__()
        if head not in HEAD_KINDS:
            raise ValueError(f"head: expected one of {', '.join(HEAD_KINDS)}, got {head!r}")
        options = dict(options or {})
        self.backbone = rnnzoo.create(model, input_size=input_size, hidden_size=hidden_size,
                                      num_layers=num_layers, bidirectional=bidirectional, batch_first=True,
                                      dropout=dropout, variational_dropout=variational_dropout, zoneout=zoneout,
                                      weight_drop=weight_drop, layer_norm=layer_norm, **options)
        self.head_kind = head
        self.head = nn.Linear(self.backbone.output_size, output_size)
        self.config = dict(model=model, input_size=input_size, output_size=output_size, hidden_size=hidden_size,
                           head=head, num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                           variational_dropout=variational_dropout, zoneout=zoneout, weight_drop=weight_drop,
                           layer_norm=layer_norm, options=options)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SequenceModel:
        cfg = dict(config)
        return cls(cfg.pop("model"), **cfg)

    @property
    def output_size(self) -> int:
        return self.head.out_features

    def features(self, x: Tensor, state: Any = None, *, lengths: Tensor | None = None,
                 mask: Tensor | None = None) -> tuple[Tensor, Any]:
        """The backbone's outputs ``(B, T, H_out)`` and final state (for chunked runs: TBPTT)."""
        return self.backbone(x, state, lengths=lengths, mask=mask)

    def forward(self, x: Tensor, state: Any = None, *, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        """``x`` ``(B, T, I)`` -> ``(y, final_state)``; ``y`` ``(B, O)`` (last) or ``(B, T, O)``."""
        out, state = self.features(x, state, lengths=lengths)
        if self.head_kind == "last":
            out = last_valid(out, lengths)
        return self.head(out), state
