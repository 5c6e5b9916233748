"""The library runs on the device of its inputs (issue 14): no tensor is created on the CPU behind the
user's back.

Static part: every module under ``src/rnnzoo/`` (except the directories in ``EXCLUDED``, each with its
reason) is parsed, and every call of a torch factory (``torch.zeros``, ``torch.arange``, ``torch.tensor``,
...) that passes no ``device=`` keyword is a finding, unless

- it is module construction: inside ``__init__`` or ``reset_parameters``, or the direct argument of
  ``nn.Parameter(...)``. Parameters and buffers are built on the CPU as ``torch.nn`` builds them and follow
  ``model.to(device)``; a constructed tensor kept as a plain attribute would not follow, and the dynamic
  test below (the whole model moved to the ``meta`` device) catches that;
- a line of its statement (or a comment line right above it), or the header of a function around it
  (the comment line right above the ``def``, or a line of the signature), carries a comment ``# cpu: <reason>`` (the
  allow-list: lengths, which the runner keeps on the CPU as ``pack_padded_sequence`` does; example data
  drawn from a seeded CPU generator; reports that are documented as CPU tensors).

Per-step code (a cell's ``step``, ``project`` and ``output``, run once per time step) must not copy to the
host either: ``.item()``, ``.tolist()``, ``.cpu()``, ``.numpy()`` and ``.to("cpu")`` there are findings
(each one waits for the GPU, T times per run), except inside a ``raise``.

Dynamic part: representative registry cells run forward on the ``meta`` device (parameters and inputs),
where a CPU tensor meeting a meta tensor raises. There is no GPU on the machines this suite runs on; the
``meta`` device checks the same placement without one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import rnnzoo
from rnnzoo.core.tree import tree_leaves
from tests.conftest import make_input

SRC = Path(rnnzoo.__file__).resolve().parent
FACTORIES = frozenset({"zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "eye", "linspace",
                       "logspace", "rand", "randn", "randint", "randperm", "empty_strided"})
# ``*_like`` and ``tensor.new_*`` inherit the device of their argument: not factories here.
HOST_COPIES = frozenset({"item", "tolist", "cpu", "numpy"})
PER_STEP = frozenset({"step", "project", "output"})
CONSTRUCTION = frozenset({"__init__", "reset_parameters"})
ALLOW = re.compile(r"#\s*cpu:\s*\S")
# statements whose body holds other statements: a comment on their lines does not cover their bodies
COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
            ast.With, ast.AsyncWith, ast.Try, ast.Match)
# directories (relative to src/rnnzoo) not scanned, and why
EXCLUDED = {
    "data": "corpus loaders and parsers: they build datasets on the CPU by design; the trainer moves batches",
    "tasks": "task generators: datasets built on the CPU by design (seeded CPU generators); Lightning moves batches",
    "reproduce": "paper-claim runners: they call the trainer and the tasks, and make no model tensors",
    "train": ("the Lightning trainer moves batches and module state itself; it is owned by the training work of "
              "issue 14, which takes its findings (train/module.py `_grad_norm`'s torch.zeros(()))"),
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _is_torch_factory(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr in FACTORIES and isinstance(f.value, ast.Name) and f.value.id == "torch":
        return f.attr
    return None


def _is_parameter(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "Parameter") or (isinstance(f, ast.Name) and f.id == "Parameter")


def _host_copy(call: ast.Call) -> str | None:
    f = call.func
    if not isinstance(f, ast.Attribute):
        return None
    if f.attr in HOST_COPIES and not call.args:
        return f".{f.attr}()"
    if f.attr == "to" and any(isinstance(a, ast.Constant) and a.value == "cpu" for a in call.args):
        return '.to("cpu")'
    return None


def scan_source(text: str, path: str = "<string>") -> list[Finding]:
    """The findings of one module's source (see the module docstring for the rules)."""
    lines = text.splitlines()
    findings: list[Finding] = []

    def span(node: ast.stmt) -> tuple[int, int]:
        """The lines a comment may sit on for ``node``: a simple statement's own lines, a compound one's
        header (its ``def``/``if``/``for`` line to the end of its signature or condition), each with the
        comment line right above (above the decorators for a decorated ``def``)."""
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        if isinstance(node, COMPOUND):
            decorators = {id(d) for d in getattr(node, "decorator_list", [])}
            ends = [c.end_lineno or c.lineno for c in ast.iter_child_nodes(node)
                    if not isinstance(c, ast.stmt | ast.excepthandler) and id(c) not in decorators
                    and hasattr(c, "lineno")]
            last = max([node.lineno, *ends])
        else:
            last = node.end_lineno or node.lineno
        above = first - 1 if first > 1 and lines[first - 2].lstrip().startswith("#") else first
        return above, last

    def allowed(spans: list[tuple[int, int]]) -> bool:
        return any(ALLOW.search(lines[i - 1]) for a, b in spans for i in range(a, b + 1))

    def visit(node: ast.AST, functions: list, headers: list[tuple[int, int]], here: tuple[int, int] | None,
              in_parameter: bool, in_raise: bool) -> None:
        if isinstance(node, ast.stmt):  # a statement's body statements get their own span, not its header
            here = span(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):  # a def's header covers its body
            functions, headers = [*functions, node], [*headers, span(node)]
        in_raise = in_raise or isinstance(node, ast.Raise)
        first = None
        if isinstance(node, ast.Call):
            spans = [*headers, *([here] if here else [])]
            names = {fn.name for fn in functions}
            factory = _is_torch_factory(node)
            if (factory and not any(k.arg == "device" for k in node.keywords) and not in_parameter
                    and not names & CONSTRUCTION and not allowed(spans)):
                findings.append(Finding(path, node.lineno, f"torch.{factory}(...) without device="))
            copy = _host_copy(node)
            if copy and functions and functions[-1].name in PER_STEP and not in_raise and not allowed(spans):
                findings.append(Finding(path, node.lineno, f"{copy} in per-step code ({functions[-1].name})"))
            # the first argument of nn.Parameter(...) (nested arithmetic included) is construction
            first = node.args[0] if _is_parameter(node) and node.args else None
        for child in ast.iter_child_nodes(node):
            visit(child, functions, headers, here, in_parameter or child is first, in_raise)

    visit(ast.parse(text), [], [], None, False, False)
    return findings


def scanned_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] not in EXCLUDED)


def test_no_tensor_is_made_on_the_cpu_behind_the_users_back():
    findings = [f for p in scanned_files() for f in scan_source(p.read_text(), str(p.relative_to(SRC)))]
    assert not findings, ("factory calls without device= (pass the device of the inputs, or say why the CPU is "
                          "meant with a `# cpu: <reason>` comment on the line):\n" + "\n".join(map(str, findings)))


def test_the_scan_covers_the_models_fused_paths_regularisers_and_diagnostics():
    top = {p.relative_to(SRC).parts[0] for p in scanned_files()}
    assert {"cells", "core", "fused", "wrappers", "diagnostics", "nn", "export"} <= top
    assert all((SRC / d).is_dir() for d in EXCLUDED), "an excluded directory no longer exists: drop it"


CHECKER_CASES = [
    ("def f(x):\n    return torch.zeros(3)\n", ["torch.zeros(...) without device="]),
    ("def f(x):\n    return torch.zeros(3, device=x.device)\n", []),
    ("def f(x):\n    return torch.arange(5).to(x)\n", ["torch.arange(...) without device="]),
    ("def f(x):\n    return torch.zeros_like(x) + x.new_zeros(3)\n", []),
    ("def f(lengths):\n    return torch.tensor(lengths)  # cpu: lengths, as pack_padded_sequence takes them\n", []),
    ("def f(g):  # cpu: example data from a seeded CPU generator\n    return torch.randn(3, generator=g)\n", []),
    ("# cpu: example data from a seeded CPU generator\ndef f(g):\n    return torch.randn(3, generator=g)\n", []),
    ("# cpu: example data\ndef f(g):\n    return 1\n\n\ndef h(g):\n    return torch.randn(3, generator=g)\n",
     ["torch.randn(...) without device="]),
    ("def f(x):\n    return torch.ones(2)  # on the cpu\n", ["torch.ones(...) without device="]),
    ("def f(x):\n    return g(  # cpu: a report\n        torch.tensor([1]),\n        torch.ones(2))\n", []),
    ("def f(x):\n    if x:  # cpu: not for the body\n        y = torch.ones(2)\n", ["torch.ones(...) without device="]),
    ("def f(x):\n    # cpu: lengths\n    y = torch.ones(2)\n    z = torch.ones(2)\n",
     ["torch.ones(...) without device="]),
    ("def f(x):\n    if torch.isclose(torch.tensor(x), y):  # cpu: a Python float\n        z = torch.ones(2)\n",
     ["torch.ones(...) without device="]),
    ("class C:\n    def __init__(self):\n        self.w = nn.Parameter(torch.empty(3))\n", []),
    ("class C:\n    def build(self):\n        self.w = nn.Parameter(torch.randn(3) * 0.1)\n", []),
    ("class C:\n    def build(self):\n        self.w = torch.randn(3) * nn.Parameter(torch.ones(3))\n",
     ["torch.randn(...) without device="]),
    ("class C:\n    def step(self, u, s):\n        return u * s.item()\n", [".item() in per-step code (step)"]),
    ("class C:\n    def project(self, x):\n        return x.to('cpu')\n", ['.to("cpu") in per-step code (project)']),
    ("class C:\n    def step(self, u, s):\n        if u.isnan().any():\n            raise ValueError(f'{u.tolist()}')\n"
     "        return u\n", []),
    ("class C:\n    def prepare(self, x):\n        return x.cpu()\n", []),
]


@pytest.mark.parametrize("source,expected", CHECKER_CASES)
def test_the_checker_flags_what_it_should(source, expected):
    assert [f.what for f in scan_source(source)] == expected


# ------------------------------------------------------------------------------------------ meta device

# Cells whose forward runs on the meta device (placement is checked, values are not computed). Cells left
# out, and why: none of the plain recurrent cells needs a value during a forward; the runner reads lengths
# and masks (``int(lens.min())``, ``bool(mask.all())``), so those runs go without lengths here.
META_CELLS = [n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.CELL)
              if rnnzoo.model_info(n).input_kind in (rnnzoo.InputKind.VECTOR_SEQUENCE,
                                                     rnnzoo.InputKind.IMAGE_SEQUENCE)]


@pytest.mark.parametrize("name", META_CELLS)
def test_forward_on_the_meta_device(name):
    model = rnnzoo.create(name, input_size=3, hidden_size=4, num_layers=2, bidirectional=True).to("meta")
    x = make_input(name, 2, 3, 3).to("meta")
    out, state = model(x)
    assert out.device.type == "meta" and all(t.device.type == "meta" for t in tree_leaves(state))
