"""Reproducing the papers' claims (issue 10 section 3): ``rnnzoo reproduce``.

:mod:`~rnnzoo.reproduce.claims` is the typed registry (:class:`Claim`, :func:`list_claims`,
:func:`get_claim`), :mod:`~rnnzoo.reproduce.verdict` the pass conditions (:class:`Threshold`,
:class:`Ordering`) and :func:`verdict`, :mod:`~rnnzoo.reproduce.runner` runs a claim
(:func:`reproduce`) and :mod:`~rnnzoo.reproduce.table` renders the README's results table.
"""

# each module registers its claims on import (issue 11's cells)
from rnnzoo.reproduce import (  # noqa: F401
    claims_attention,
    claims_dmn,
    claims_fsmn,
    claims_ft,
    claims_ggnn,
    claims_grid,
    claims_highway,
    claims_indrnn,
    claims_latency,
    claims_lg,
    claims_lstmlike,
    claims_md,
    claims_memn2n,
    claims_mogdrnn,
    claims_ntm,
    claims_ode,
    claims_pointer,
    claims_rmn,
    claims_speed,
    claims_stack,
    claims_tree,
    claims_xlstm,
)
from rnnzoo.reproduce.claims import QUICK, Claim, Run, UnknownClaimError, get_claim, list_claims, register_claim
from rnnzoo.reproduce.verdict import Ordering, Threshold, verdict

__all__ = ["QUICK", "Claim", "Ordering", "Run", "Threshold", "UnknownClaimError", "get_claim", "list_claims",
           "register_claim", "reproduce", "verdict"]


def reproduce(*args, **kwargs):  # type: ignore[no-untyped-def]
    """:func:`rnnzoo.reproduce.runner.reproduce` (imported on first use: it needs Lightning)."""
    from rnnzoo.reproduce.runner import reproduce as run

    return run(*args, **kwargs)
