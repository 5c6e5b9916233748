"""Figure for the README: an Elman RNN with exploding gradients, trained with and without norm clipping.

Usage: python docs/plot_clipping.py RUN_DIR_CLIPPED RUN_DIR_UNCLIPPED OUT.png
(the run directories of the two `rnnzoo train` commands in the README; reads their metrics.csv).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(run: Path, key: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    with open(run / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get(key):
                steps.append(int(row["step"]))
                values.append(float(row[key]))
    return steps, values


def main(argv: list[str]) -> int:
    clipped, free, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for run, label in ((clipped, "clip-norm 1.0"), (free, "no clipping")):
        a.semilogy(*series(run, "train/grad_norm"), label=label)
        b.plot(*series(run, "valid/accuracy"), marker="o", label=label)
    a.set(xlabel="training step", ylabel="gradient norm before clipping", title="gradient norm")
    b.axhline(0.25, ls="--", c="grey", label="baseline 0.25")
    b.set(xlabel="training step", ylabel="validation accuracy", title="temporal order, T = 20", ylim=(0, 1.05))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Elman RNN, 50 tanh units, recurrent spectral radius 1.2 (Pascanu et al. 2013 setting)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
