"""Errors of the training package; the CLI maps each to an exit status and a one-line message."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid configuration value. The message names the flag, what is allowed and what came.

    The CLI prints it and exits with status 2.
    """

    @property
    def key(self) -> str | None:
        """The configuration key of the flag the message starts with (``--clip-norm: ...`` -> ``clip_norm``;
        ``--option`` -> ``options``), or None."""
        head = str(self).split(":", 1)[0].split(" ", 1)[0]
        if not head.startswith("--"):
            return None
        name = head[2:].replace("-", "_")
        return {"option": "options", "task_option": "task_options"}.get(name, name)


class CheckpointError(ValueError):
    """A missing, truncated, corrupt or foreign checkpoint (CLI exit status 2)."""


class RunDirError(ValueError):
    """A run directory that cannot be used (e.g. it holds a finished run; CLI exit status 2)."""


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN/inf; the update was not applied (CLI exit status 1).

    Attributes:
        step: the optimizer step (0-based global step) at which it happened.
        loss: the loss value (may be nan/inf).
        grad_norm: the global gradient norm before clipping (may be nan/inf).
    """

    def __init__(self, step: int, loss: float, grad_norm: float, clipped: bool) -> None:
        self.step = step
        self.loss = loss
        self.grad_norm = grad_norm
        self.clipped = clipped
        hint = ("lower --lr or --clip-norm" if clipped
                else "enable gradient-norm clipping, e.g. --clip-norm 1.0, or lower --lr")
        super().__init__(
            f"training diverged at step {step}: loss {loss:.6g}, gradient norm {grad_norm:.6g}; the update "
            f"was not applied and no NaN weights were written. Try: {hint} "
            "(Pascanu, Mikolov & Bengio 2013; 001 section 2.6)"
        )

    def __reduce__(self):  # picklable across ddp_spawn workers
        return (TrainingDiverged, (self.step, self.loss, self.grad_norm, self.clipped))
