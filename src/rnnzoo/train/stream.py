"""Evaluating a long stream (a language model's valid or test split) in windows carrying the state.

Zaremba et al. 2014 test with batch 1: every token is predicted from all the tokens before it. A stream of
N tokens at once would need ``(1, N, V)`` logits (82k x 10k floats for the PTB test set, 3.3 GB); run in
windows of ``window`` steps from the previous window's final state, the result is the same (in eval mode)
while only ``(1, window, V)`` logits exist at a time.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnzoo.train.heads import SequenceModel
from rnnzoo.train.metrics import SequenceMetrics
from rnnzoo.train.objective import Targets, make_targets

#: time steps per evaluation window
EVAL_WINDOW = 256


@torch.no_grad()
def stream_update(model: SequenceModel, metrics: SequenceMetrics, x: Tensor, y: Tensor, head: str, loss: str, *,
                  window: int = EVAL_WINDOW) -> None:
    """Update ``metrics`` with ``model``'s outputs over the streams ``x`` ``(B, N)`` (token ids) or
    ``(B, N, I)``, labels ``y`` ``(B, N)``, computed ``window`` steps at a time carrying the state.

    ``head``: ``"next_token"`` (the output at step t scored against ``y`` at t+1, across window boundaries) or
    ``"per_step"``. Gradients are off; the caller sets eval mode.
    """
    if window < 1:
        raise ValueError(f"window: expected an integer >= 1, got {window}")
    if x.shape[:2] != y.shape[:2]:
        raise ValueError(f"y: expected labels of shape {tuple(x.shape[:2])} (one per step of x), got {tuple(y.shape)}")
    steps = x.shape[1]
    targets = make_targets(head, y, None, steps, loss)
    state = None
    for start in range(0, steps, window):
        stop = min(steps, start + window)
        feats, state = model.features(x[:, start:stop], state)
        mask = targets.mask[:, start:stop] if targets.mask is not None else None
        if mask is not None and not bool(mask.any()):
            continue
        part = Targets("per_step", targets.y[:, start:stop], None, mask, 0)
        metrics.update(model.head(feats).float(), part)
