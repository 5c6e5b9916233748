"""A recurrent backbone (any registered model) with a linear output head.

The head is the output layer of 001 eq (3), ``y_t = W_HO h_t + b_O``, applied where the task needs
an output:

* ``"last"``: at each sequence's last valid step (regression or classification from the final
  step, e.g. the adding problem). For a bidirectional model the output at that step is the
  concatenation of the forward direction's last state and the backward direction's output there.
* ``"per_step"``: at every step (sequence labelling, e.g. copy memory).
* ``"next_token"``: at every step, the output at step t being scored against the label at step
  t+1 (language modelling: shifted targets; see :mod:`rnnzoo.train.objective`).

Token inputs (``input_vocab = V``): ``x`` holds int64 ids ``(B, T)``, embedded by ``nn.Embedding(V, E)``
(``E = embedding_size``, default the hidden size) before the backbone. ``tie_weights`` shares the
embedding matrix with the output layer (Press & Wolf 2017, arXiv:1608.05859), which needs
``E = backbone.output_size``. With ``dropout > 0`` a token model also drops the embedding output and the
backbone output (Zaremba et al. 2014, arXiv:1409.2329: dropout on the "non-recurrent connections"; the
backbone applies it between layers). The embedding and the output layer are initialised uniform in
[-0.1, 0.1], Zaremba's ``init_scale`` (the backbone keeps its own initialisation).

``crf=True`` (per-step classification only) puts a linear-chain CRF (:class:`~rnnzoo.crf.CRF`, Lample et
al. 2016, Ma & Hovy 2016) over the head's outputs: ``forward`` still returns the per-step scores ``(B, T, K)``,
now the CRF's emissions; the CRF (attribute ``crf``) turns them into a sentence likelihood
(:func:`rnnzoo.train.objective.crf_loss`) and a Viterbi path (:meth:`SequenceModel.decode`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo.crf import CRF, PAD_TAG

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
        input_vocab: V for token inputs (then ``input_size`` must be V too), None for vectors.
        embedding_size: E of the token embedding (None: ``hidden_size``).
        tie_weights: share the embedding with the output layer (Press & Wolf 2017).
        crf: a linear-chain CRF over the ``"per_step"`` head's K = O emissions (attribute ``crf``, else None).

    Shapes: ``x`` ``(B, T, I)`` (token inputs: int64 ``(B, T)``), ``lengths`` ``(B,)``; ``forward`` returns
    ``(y, state)`` with ``y`` ``(B, O)`` for ``"last"`` and ``(B, T, O)`` otherwise.

    ``config`` is a plain dict: ``SequenceModel.from_config(m.config)`` rebuilds the model.
    """

    def __init__(self, model: str, *, input_size: int, output_size: int, hidden_size: int,
                 head: str = "last", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, variational_dropout: float | dict[str, float] | None = None,
                 zoneout: float | dict[str, float] | None = None, weight_drop: float | None = None,
                 layer_norm: bool = False, options: dict[str, Any] | None = None,
                 input_vocab: int | None = None, embedding_size: int | None = None,
                 tie_weights: bool = False, crf: bool = False) -> None:
        super().__init__()
        if head not in HEAD_KINDS:
            raise ValueError(f"head: expected one of {', '.join(HEAD_KINDS)}, got {head!r}")
        if not isinstance(crf, bool):
            raise TypeError(f"crf: expected True or False, got {crf!r}")
        if crf and head != "per_step":
            raise ValueError(f"crf: a CRF needs the per_step head (one label per step), got head {head!r}")
        options = dict(options or {})
        self.embedding: nn.Embedding | None = None
        backbone_input = input_size
        if input_vocab is not None:
            if input_size != input_vocab:
                raise ValueError(f"input_size: token inputs need input_size = input_vocab = {input_vocab}, "
                                 f"got {input_size}")
            backbone_input = hidden_size if embedding_size is None else embedding_size
            self.embedding = nn.Embedding(input_vocab, backbone_input)
        elif tie_weights or embedding_size is not None:
            what = "tie_weights" if tie_weights else "embedding_size"
            raise ValueError(f"{what}: needs token inputs (a task with input_vocab), got a vector-input task")
        info = rnnzoo.model_info(model)
        accepted = info.options()
        sized = info.kind is not rnnzoo.ModelKind.MODEL or accepted is None or "input_size" in accepted
        # a whole model that reads ids (a tagger's word and character ids) has no input_size to be given
        size = {"input_size": backbone_input} if sized else {}
        self.backbone = rnnzoo.create(model, **size, hidden_size=hidden_size,
                                      num_layers=num_layers, bidirectional=bidirectional, batch_first=True,
                                      dropout=dropout, variational_dropout=variational_dropout, zoneout=zoneout,
                                      weight_drop=weight_drop, layer_norm=layer_norm, **options)
        self.head_kind = head
        self.head = nn.Linear(self.backbone.output_size, output_size)
        self.drop = nn.Dropout(dropout) if self.embedding is not None and dropout > 0 else None
        if self.embedding is not None:
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            nn.init.uniform_(self.head.weight, -0.1, 0.1)
        if tie_weights:
            assert self.embedding is not None
            if self.embedding.embedding_dim != self.backbone.output_size or input_vocab != output_size:
                raise ValueError(
                    f"tie_weights: the embedding ({input_vocab} x {self.embedding.embedding_dim}) and the output "
                    f"layer ({output_size} x {self.backbone.output_size}) must have the same shape: set "
                    f"embedding_size = {self.backbone.output_size} (the backbone's output size), got "
                    f"embedding_size {self.embedding.embedding_dim}")
            self.head.weight = self.embedding.weight
        self.crf: CRF | None = CRF(output_size) if crf else None
        self.config = dict(model=model, input_size=input_size, output_size=output_size, hidden_size=hidden_size,
                           head=head, num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                           variational_dropout=variational_dropout, zoneout=zoneout, weight_drop=weight_drop,
                           layer_norm=layer_norm, options=options, input_vocab=input_vocab,
                           embedding_size=embedding_size, tie_weights=tie_weights, crf=crf)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SequenceModel:
        cfg = dict(config)
        return cls(cfg.pop("model"), **cfg)

    @property
    def output_size(self) -> int:
        return self.head.out_features

    def features(self, x: Tensor, state: Any = None, *, lengths: Tensor | None = None,
                 mask: Tensor | None = None) -> tuple[Tensor, Any]:
        """The backbone's outputs ``(B, T, H_out)`` and final state (for chunked runs: TBPTT).

        Token models embed ``x`` (int64 ``(B, T)``) first; with dropout, the embedding output and the
        backbone output are dropped (training mode only)."""
        if self.embedding is None:
            return self.backbone(x, state, lengths=lengths, mask=mask)
        if x.dim() != 2 or x.is_floating_point():
            raise ValueError(f"x: a token model expects int64 ids of shape (B, T), got {x.dtype} {tuple(x.shape)}")
        emb = self.embedding(x)
        if self.drop is not None:
            emb = self.drop(emb)
        out, state = self.backbone(emb, state, lengths=lengths, mask=mask)
        if self.drop is not None:
            out = self.drop(out)
        return out, state

    def forward(self, x: Tensor, state: Any = None, *, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        """``x`` ``(B, T, I)`` -> ``(y, final_state)``; ``y`` ``(B, O)`` (last) or ``(B, T, O)``."""
        out, state = self.features(x, state, lengths=lengths)
        if self.head_kind == "last":
            out = last_valid(out, lengths)
        return self.head(out), state

    def decode(self, x: Tensor, *, lengths: Tensor | None = None) -> Tensor:
        """The predicted tags ``(B, T)`` int64 of a ``"per_step"`` classifier: the CRF's Viterbi path when the
        model has one, else the argmax of each step's scores; :data:`~rnnzoo.crf.PAD_TAG` past each
        sequence's length (``lengths`` ``(B,)``; None = every step is valid)."""
        if self.head_kind != "per_step":
            raise ValueError(f"decode: needs the per_step head, got head {self.head_kind!r}")
        scores, _ = self(x, lengths=lengths)
        mask = step_mask(lengths, scores.shape[0], scores.shape[1], scores.device)
        if self.crf is not None:
            return self.crf.viterbi(scores, mask).tags
        return torch.where(mask, scores.argmax(-1), PAD_TAG)


def step_mask(lengths: Tensor | None, batch: int, steps: int, device: torch.device) -> Tensor:
    """``(B, T)`` bool, True at the steps before each sequence's length (``lengths`` ``(B,)``; None: all)."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},), got {tuple(lengths.shape)}")
    return torch.arange(steps, device=device) < lengths.to(device).unsqueeze(1)
