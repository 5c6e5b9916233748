"""Shared test helpers: how to build a small instance of every registered model and an input for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import torch

import rnnzoo
from rnnzoo.fused import workspace

# Every Function buffer goes through the workspace pool, however small, and comes out filled with NaN: a Function that
# reads a buffer it has not written fails its float64 comparisons instead of passing on a zero page, and reuse from
# call to call is exercised by every test (tests/fused/test_workspace.py tests the pool itself).
workspace.configure(min_bytes=0, poison=True)

# Spatial models read (B, T, C, Y, X): a tiny image keeps gradcheck fast.
SPATIAL_SHAPE = (4, 4)


def is_spatial(name: str) -> bool:
    return rnnzoo.model_info(name).input_kind == rnnzoo.InputKind.IMAGE_SEQUENCE


def make_input(name: str, batch: int, steps: int, input_size: int, *, dtype=torch.float32,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random batch-first input for the model ``name`` (from its entry's input kind), drawn on the CPU (the
    same values on every device) and moved to ``device``."""
    return rnnzoo.model_info(name).input_kind.example(batch, steps, input_size, spatial=SPATIAL_SHAPE,
                                                       dtype=dtype, generator=generator).to(device)


def make_model(name: str, input_size: int = 3, hidden_size: int = 4, **kw) -> rnnzoo.Model:
    torch.manual_seed(0)
    return rnnzoo.create(name, input_size=input_size, hidden_size=hidden_size, **kw)


@pytest.fixture(autouse=True)
def _fresh_seed():
    torch.manual_seed(1234)
    yield


# ------------------------------------------------------------------------------------------------ devices

CUDA_REASON = ("no CUDA device: torch.cuda.is_available() is False on this machine; scripts/gpu_check.sh runs these "
               "tests with -k cuda on one that has a GPU")
# "cpu" always; "cuda" when torch sees a GPU, else one skipped item per test function (see
# pytest_collection_modifyitems below) that shows the reason
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON))]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> Iterator[torch.device]:
    """The device a test's models and inputs live on. On CUDA, TF32 matrix products are switched off for the
    test (they round float32 products to a 10-bit mantissa, beyond the tolerances written for the CPU)."""
    dev = torch.device(request.param)
    if dev.type != "cuda":
        yield dev
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield dev
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without CUDA, keep one skipped "cuda" item per test function (it shows the reason in the report) and
    deselect the others: a skipped copy of every registry-parametrized item costs collection and report time
    and says nothing more. The kept one is a default-suite item (not ``slow``) where the function has one."""
    if torch.cuda.is_available():
        return
    kept: dict[tuple[str, str], pytest.Item] = {}
    cuda_items = [it for it in items if getattr(it, "callspec", None) is not None
                  and it.callspec.params.get("device") == "cuda"]
    for item in cuda_items:
        key = (item.nodeid.split("::")[0], getattr(item, "originalname", item.name))
        if key not in kept or (kept[key].get_closest_marker("slow") and not item.get_closest_marker("slow")):
            kept[key] = item
    keep = {id(it) for it in kept.values()}
    dropped = [it for it in cuda_items if id(it) not in keep]
    if dropped:
        gone = {id(it) for it in dropped}
        config.hook.pytest_deselected(items=dropped)
        items[:] = [it for it in items if id(it) not in gone]


# ------------------------------------------------------------------------------------- the test-time budget

# The registry-parametrized suites (tests/core/test_contract.py, tests/core/test_contract_layer_norm.py,
# tests/wrappers/test_wrapper_contract.py, tests/export/test_export_registry.py) run every registered cell's
# plain contract in `make test`; the regulariser variants and the export tests run there for these cells only,
# and for every other cell under @pytest.mark.slow (`make test-slow`, `pytest -m slow`), so that the default
# suite grows by the plain checks alone when a cell is added. Each name covers a fast-path kind / input kind:
REPRESENTATIVE = (
    "lstm",           # torch's kernel (FastPath.TORCH), the LSTM every other cell is measured against
    "peephole_lstm",  # an rnnzoo.fused Function with a hand-written backward (FastPath.RNNZOO), LSTM family
    "gru",            # torch's GRU kernel: the other gate pattern and state shape (one tensor)
    "elman",          # torch's RNN kernel: the plain tanh recurrence, a single-matrix step
    "indrnn",         # an elementwise recurrence (Recurrence.ELEMENTWISE) through its own Function
    "rhn",            # a matrix recurrence held to issue 11's targets (Recurrence.MATRIX): a deep transition per step
    "convlstm",       # the image-sequence input kind (B, T, C, Y, X) and convolutional gates
    "ft_lstm",        # a composite cell (FastPath.COMPOSITE): an inner runner call inside project
    "ntm",            # a memory-augmented cell (FastPath.AUTOGRAD): a nested state of memory, reads and weights
)
# the variant every registered cell keeps in `make test`
PLAIN = "plain"


def tiered(names: Sequence[Any], variants: Sequence[Any] | None = None, *, plain: Any = PLAIN,
           name_of: Callable[[Any], str] = str, id_of: Callable[[Any], str] | None = None) -> list[Any]:
    """Parameters for the registry-parametrized suites under the policy above, nothing hidden behind an ``if``.

    ``tiered(names)``: one ``pytest.param(name)`` per entry, ``slow`` unless its registry name (``name_of(entry)``,
    for entries such as ``(name, options)``) is in ``REPRESENTATIVE``. ``tiered(names, variants)``:
    ``pytest.param(*variant, name)`` for every pair (variant outer; a tuple variant is spread, a plain one is one
    value), ids ``"<variant>-<name>"`` (``id_of(variant)`` if given); the ``plain`` variant is never slow, the
    others are slow unless the name is in ``REPRESENTATIVE``. ``pytest -m slow`` runs the rest of the matrix,
    ``pytest -m "not slow"`` the default part, plain ``pytest`` all of it.
    """
    unknown = [n for n in REPRESENTATIVE if n not in rnnzoo.list_models()]
    if unknown:
        raise ValueError(f"REPRESENTATIVE: expected registered names, got {unknown}")
    slow = pytest.mark.slow
    if variants is None:
        return [pytest.param(n, id=id_of(n) if id_of else name_of(n),
                             marks=() if name_of(n) in REPRESENTATIVE else slow) for n in names]
    out = []
    for v in variants:
        fields = v if isinstance(v, tuple) else (v,)
        vid = id_of(v) if id_of else "-".join(str(f) for f in fields)
        for n in names:
            marks = () if v == plain or name_of(n) in REPRESENTATIVE else slow
            out.append(pytest.param(*fields, n, id=f"{vid}-{name_of(n)}", marks=marks))
    return out
