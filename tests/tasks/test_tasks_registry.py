"""Registry: get_task, list_tasks, UnknownTaskError."""

from __future__ import annotations

import pytest

import rnnzoo.tasks as tasks
from rnnzoo.tasks import Task, TaskInfo, UnknownTaskError, get_task, list_tasks

EXPECTED = [
    "adding",
    "multiplication",
    "temporal_order",
    "temporal_order4",
    "temporal_order8",
    "copy",
    "parity",
    "parity_lengths",
    "salient_change",
    "digits",
    "digits_flat",
    "permuted_digits",
    "mnist",
    "permuted_mnist",
]
#: tasks on real corpora (rnnzoo.tasks.corpus; their data comes from rnnzoo.data, tested in test_corpus*.py)
CORPUS = ["ptb_word", "ptb_char", "shakespeare", "japanese_vowels", "basic_motions", "jsb_chorales", "brown_pos"]
#: issue 12's generated tasks: structured ones (trained with whole models) and the NTM's vector-sequence tasks
ISSUE12 = ["ntm_copy", "ntm_repeat_copy", "ntm_associative_recall", "babi", "babi_symbolic_4", "babi_symbolic_15",
           "babi_symbolic_16", "babi_symbolic_18", "babi_symbolic_19", "babi_entailment", "babi_dmn",
           "graph_shortest_path", "ptr_sort", "convex_hull", "tsp", "seq_reverse", "seq_sort", "seq_copy"]
#: issue 13's tasks (trees, stacks, grids, future context)
ISSUE13 = ["dyck_parse", "future_context", "grid_digits", "grid_mnist", "listops", "parity_bits", "shapes_global"]


def test_list_tasks():
    infos = list_tasks()
    names = [i.name for i in infos]
    assert names[:len(EXPECTED + CORPUS)] == EXPECTED + CORPUS
    # the generated tasks of issues 12 and 13 register on import, in the order of their modules' names
    assert sorted(names[len(EXPECTED + CORPUS):]) == sorted(ISSUE12 + ISSUE13)
    for info in infos:
        assert isinstance(info, TaskInfo)
        assert info.description and "\n" not in info.description
        assert info.baseline and "\n" not in info.baseline


@pytest.mark.parametrize("name", [n for n in EXPECTED if "mnist" not in n])
def test_every_task_is_a_task_with_consistent_attributes(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert task.target in ("last", "per_step") and task.loss in ("mse", "cross_entropy")
    assert set(task.baseline()) == set(task.metrics)
    if task.loss == "mse":
        assert task.metrics == ["mse"] and task.output_size == 1
    else:
        assert set(task.metrics) == {"accuracy", "cross_entropy"} and task.output_size >= 2


def test_seq_len_and_num_classes_routing():
    assert get_task("adding", seq_len=77).seq_len == 77
    assert get_task("temporal_order").num_classes == 4
    assert get_task("temporal_order", num_classes=8).output_size == 8
    assert get_task("temporal_order4").output_size == 4
    assert get_task("temporal_order8", num_classes=8).output_size == 8
    copy = get_task("copy", seq_len=70)
    assert (copy.delay, copy.seq_len) == (50, 70)
    assert get_task("copy").seq_len == 120  # default delay T = 100
    assert get_task("Permuted-Digits").name == "permuted_digits"  # case and hyphens normalised


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("addng", "adding"),
        ("permuted_minst", "permuted_mnist"),
        ("temporal_ordr", "temporal_order"),
        ("party", "parity"),
    ],
)
def test_unknown_name_suggests_close_names(typo, suggestion):
    with pytest.raises(UnknownTaskError) as info:
        get_task(typo)
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert f"did you mean '{suggestion}'" in message
    assert typo in message


def test_unknown_name_without_close_match_lists_known_tasks():
    with pytest.raises(KeyError, match="known tasks: adding") as info:
        get_task("zzzzzzzz")
    assert "did you mean" not in str(info.value)


def test_unknown_option_names_allowed_options():
    with pytest.raises(ValueError, match=r"'num_class'.*allowed options: \['num_classes'"):
        get_task("temporal_order", num_class=8)


def test_register_task_rejects_duplicates():
    with pytest.raises(ValueError, match="name"):
        tasks.register_task("adding", tasks.AddingTask, "x", "y")


@pytest.mark.parametrize("name", [n for n in ISSUE12 if not n.startswith("ntm_")])
def test_structured_tasks_declare_their_kind_and_metrics(name):
    from rnnzoo import InputKind
    from rnnzoo.tasks.structured import StructuredTask

    task = get_task(name, seq_len=None) if name.startswith(("babi", "graph")) else get_task(name)
    assert isinstance(task, StructuredTask) and task.name == name
    assert task.input_kind not in (InputKind.VECTOR_SEQUENCE, InputKind.IMAGE_SEQUENCE)
    assert task.metrics and set(task.baseline()) <= set(task.metrics) | {"optimal_tour_length"}
