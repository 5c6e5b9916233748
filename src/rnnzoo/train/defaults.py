"""The embedded default job: what ``rnnzoo train`` runs with no arguments.

An LSTM (forget-gate bias 1, Jozefowicz et al. 2015) on the adding problem with T = 100
(Hochreiter & Schmidhuber 1997; Le et al. 2015), Adam (lr 0.01), gradient-norm clipping at 1
(Pascanu et al. 2013), batch 64, validation every 250 steps, stopping once the valid MSE is below
0.001 (at most 3000 steps).

Measured (2 shared CPU cores, torch 2.13 CPU): seeds 0-4 all reach valid MSE < 0.001 at step 1250,
test MSE 0.00042-0.00080 against the baseline 0.1667; about 30 s of CPU time for the training
(``rnnzoo train``: 32 s wall in all with a load average of 3, up to 3 minutes with a load of 7).

``threads: 1``: a small recurrent network is a chain of small matrix products. On the lightly loaded
machine two threads were 1.5x faster (300 steps: 4 s against 6 s), but with other processes
competing for the two cores torch's spinning OpenMP threads made a step 25x slower (1.7 s against
67 ms). One thread keeps the default job's time predictable; ``--threads none`` restores torch's
default.

Kept as a Python dict (not a YAML data file) so that it ships inside the package without
package-data configuration. ``rnnzoo train --config FILE.yaml`` and flags override any key.
"""

from __future__ import annotations

from typing import Any

DEFAULT_JOB: dict[str, Any] = {
    "model": "lstm",
    "task": "adding",
    "seq_len": 100,
    "hidden_size": 64,
    "num_layers": 1,
    "options": {"forget_bias": 1.0},
    "batch_size": 64,
    "optimizer": "adam",
    "lr": 0.01,
    "max_steps": 3000,
    "clip_norm": 1.0,
    "val_every": 250,
    "stop_at": 0.001,
    "seed": 0,
    "threads": 1,
}
