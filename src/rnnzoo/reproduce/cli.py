"""``rnnzoo reproduce``: the papers' claims, each one command printing published beside measured.

::

    rnnzoo reproduce --list                              every claim with its estimated time on 2 cores
    rnnzoo reproduce NAME [--seeds 0,1,2] [--run-dir D] [--quick] [--workers N | --ray-address ADDR]
    rnnzoo reproduce table RESULT_JSON... [--readme README.md]

``--quick`` is a smoke scale for tests (a few updates on tiny splits), labelled as such and never a result.
Exit status: 0 done (whatever the verdict), 2 bad input (unknown claim, invalid setting, a run directory holding
a run of another configuration, Ray missing for --workers >= 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rnnzoo.reproduce.claims import UnknownClaimError, get_claim, list_claims
from rnnzoo.train.sweep import add_sweep_flags

PROG = "rnnzoo reproduce"


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, got {text!r}")
    return seeds


def list_text() -> str:
    """What ``--list`` prints: each claim, its paper, pass condition, estimated minutes and needs."""
    lines = []
    for c in list_claims():
        lines.append(f"{c.name}  (~{c.minutes:.0f} min on 2 CPU cores, {len(c.runs)} run(s) x {len(c.seeds)} "
                     f"seed(s))")
        lines.append(f"    {c.paper.authors} {c.paper.year}: {c.claim}")
        lines.append(f"    pass: {c.describe_condition()}")
        if c.needs:
            lines.append(f"    needs: {', '.join(c.needs)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rnnzoo reproduce`` (delegated from :mod:`rnnzoo.cli`); returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "table":
        return _table(args_list[1:])
    parser = argparse.ArgumentParser(prog=PROG, description="Run a published claim and print the published number "
                                     "beside the measured one, with a verdict. `rnnzoo reproduce table --help`: the "
                                     "README's results table from result files.")
    parser.add_argument("name", nargs="?", help="the claim (see --list)")
    parser.add_argument("--list", action="store_true", help="list the claims with their estimated time")
    parser.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default: the claim's)")
    parser.add_argument("--run-dir", help="output directory (default runs/reproduce-NAME-<timestamp>); used again, "
                        "finished runs are read back, failed ones retried; a run of another configuration in it is "
                        "never overwritten")
    parser.add_argument("--quick", action="store_true",
                        help="smoke scale for tests: a few updates on tiny data; labelled, never a result")
    add_sweep_flags(parser)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.list:
        print(list_text())
        return 0
    if not args.name:
        print(f"{PROG}: error: expected a claim name or --list (claims: "
              f"{', '.join(c.name for c in list_claims())})", file=sys.stderr)
        return 2
    from rnnzoo.reproduce.runner import reproduce
    from rnnzoo.train.errors import ConfigError, RunDirError

    try:
        summary = reproduce(get_claim(args.name), seeds=args.seeds, run_dir=args.run_dir, quick=args.quick,
                            workers=getattr(args, "workers", None), ray_address=getattr(args, "ray_address", None))
    except (UnknownClaimError, ConfigError, RunDirError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    print(f"written: {summary['run_dir']}/reproduce.json, reproduce.md")
    return 0


def _table(argv: list[str]) -> int:
    from rnnzoo.reproduce.table import load_results, render_table, update_readme

    parser = argparse.ArgumentParser(prog=f"{PROG} table", description="The README's results table from "
                                     "reproduce.json files (or run directories holding one).")
    parser.add_argument("results", nargs="*", metavar="RESULT_JSON")
    parser.add_argument("--readme", help="replace the table between the reproduce-table markers of this file")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        table = render_table(load_results(args.results))
        if args.readme:
            update_readme(args.readme, table)
    except (OSError, ValueError) as err:
        print(f"{PROG} table: error: {err}", file=sys.stderr)
        return 2
    print(table)
    return 0


__all__ = ["list_text", "main"]
