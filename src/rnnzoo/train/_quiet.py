"""Keep Lightning's console output to what matters for these runs (also in DDP worker processes)."""

from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    """Silence Lightning's informational banners and the warnings that do not apply to these runs."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*resuming from a checkpoint that ended before the epoch ended.*",
        ".*number of training batches.*",
        ".*sync_dist=True.*",
        ".*is an invalid name for the.*",
        ".*Checkpoint directory .* exists and is not empty.*",
        ".*`training_step` returned `None`.*",
        ".*LeafSpec.*",
        ".*The `srun` command is available.*",
        ".*TensorBoard.*",
        ".*on_save_checkpoint.*",
        ".*Torchmetrics v0.9.*",
        ".*weights_only.*",
        ".*callbacks used to create the checkpoint need to be provided.*",  # resuming with --stop-at none
    ):
        warnings.filterwarnings("ignore", message=pattern)
