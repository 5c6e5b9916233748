"""The regenerated symbolic bAbI tasks: every generated answer checked by an independent solver of the story's
facts, the text format parsed back from the generator's files, frozen splits, the graph encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.cells.ggnn import NodeScores
from rnnzoo.tasks import get_task
from rnnzoo.tasks.babi_symbolic import QUESTIONS, RELATIONS, Story, generate_story, parse_stories, write_stories
from rnnzoo.tasks.structured import score_model

OPP = {"n": "s", "s": "n", "w": "e", "e": "w"}


def solve(task_id: int, story: Story) -> str:
    """The answer from the facts alone (no generator state)."""
    facts, q = story.facts, story.question
    if task_id == 4:  # "X d Y": going d from X reaches Y; so going opposite(d) from Y reaches X
        found = {t for s, d, t in facts if (s, d) == (q[0], q[1])} | {s for s, d, t in facts
                                                                      if (t, OPP[d]) == (q[0], q[1])}
        assert len(found) == 1, (story, found)
        return found.pop()
    if task_id == 15:
        kind = {s: t for s, r, t in facts if r == "is"}
        fear = {s: t for s, r, t in facts if r == "has_fear"}
        return fear[kind[q[0]]]
    if task_id == 16:  # the colour the other members of the asked one's kind were seen with (all agree)
        kind = {s: t for s, r, t in facts if r == "is"}
        colour = {s: t for s, r, t in facts if r == "has_color"}
        seen = {colour[b] for b in colour if kind[b] == kind[q[0]]}
        assert len(seen) == 1 and q[0] not in colour, story
        return seen.pop()
    if task_id == 18:
        bigger = {(s, t) if r == ">" else (t, s) for s, r, t in facts}
        changed = True
        while changed:
            more = {(a, d) for a, b in bigger for c, d in bigger if b == c} - bigger
            bigger |= more
            changed = bool(more)
        a, rel, b = q
        assert (a, b) in bigger or (b, a) in bigger, "the question must be decidable from the facts"
        return "true" if ((a, b) in bigger) == (rel == ">") else "false"
    # 19: breadth-first search over the facts read both ways
    moves: dict[str, list[tuple[str, str]]] = {}
    for s, d, t in facts:
        moves.setdefault(s, []).append((d, t))
        moves.setdefault(t, []).append((OPP[d], s))
    _, start, goal = q
    paths = {start: []}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for d, t in moves[node]:
                if t not in paths:
                    paths[t] = [*paths[node], d]
                    nxt.append(t)
        frontier = nxt
    return ",".join(paths[goal])


@pytest.mark.parametrize("task_id", sorted(RELATIONS))
def test_the_generator_writes_files_the_parser_reads_and_every_answer_is_right(task_id: int, tmp_path) -> None:
    for question in QUESTIONS[task_id]:
        path = tmp_path / f"{task_id}{question}.txt"
        write_stories(str(path), task_id, 200, seed=5, question=question)
        stories = parse_stories(path.read_text().splitlines())
        assert len(stories) == 200
        for story in stories:
            assert {r for _, r, _ in story.facts} <= set(RELATIONS[task_id])
            assert story.answer == solve(task_id, story)
            assert story.question[1 if task_id in (4, 15, 16, 18) else 0] == question
    if task_id == 18:
        answers = [s.answer for s in stories]
        assert 0.3 < answers.count("true") / len(answers) < 0.7


def test_parser_reads_the_papers_examples_and_refuses_bad_lines() -> None:
    text = ["1 C e A", "2 A e B", "3 eval A w\tC", "1 G > B", "2 eval G < B\tfalse", "1 D n A", "2 G w D",
            "3 eval path G A\tw,n"]
    stories = parse_stories(text)
    assert stories[0] == Story((("C", "e", "A"), ("A", "e", "B")), ("A", "w"), "C")
    assert stories[1].facts == (("G", ">", "B"),) and stories[1].answer == "false"
    assert stories[2].question == ("path", "G", "A") and solve(19, stories[2]) == "w,n"
    with pytest.raises(ValueError, match="line 2"):
        parse_stories(["1 A n B", "2 eval A s"])
    with pytest.raises(ValueError, match="line 1"):
        parse_stories(["1 A n"])


def test_generation_is_seeded() -> None:
    a = [generate_story(16, np.random.default_rng(3)) for _ in range(2)]
    b = [generate_story(16, np.random.default_rng(3)) for _ in range(2)]
    assert a == b and generate_story(16, np.random.default_rng(4)) != a[0]


@pytest.mark.parametrize("task_id", sorted(RELATIONS))
def test_splits_are_frozen_and_encoded_as_graphs(task_id: int) -> None:
    task = get_task(f"babi_symbolic_{task_id}", valid_size=40, test_size=30)
    again = get_task(f"babi_symbolic_{task_id}", valid_size=40, test_size=30)
    for name in ("valid", "test"):
        for u, v in zip(task.split(name).x, again.split(name).x, strict=True):
            assert torch.equal(u, v)
    assert not torch.equal(task.split("valid").y[:30], task.split("test").y)
    batch = task.split("valid")
    stories = task.stories(40, task.SPLIT_SEEDS["valid"])
    g = batch.x
    for b, story in enumerate(stories):
        nodes = g.node_table[b][g.node_table[b] >= 0]
        names = list(dict.fromkeys(n for s, _, t in story.facts for n in (s, t)))
        assert len(nodes) == len(names) and len(story.facts) == int((g.batch[g.edge_index[0]] == b).sum())
        marked = g.x[nodes]
        if task_id in (4, 15, 16):
            assert marked[:, 0].tolist() == [float(n == story.question[0]) for n in names]
            assert names[int(batch.y[b])] == story.answer
        elif task_id == 18:
            assert marked.sum(0).tolist() == [1.0, 1.0] and int(batch.y[b]) == (story.answer == "true")
        else:
            assert [("n", "s", "w", "e")[i] for i in batch.y[b].tolist()] == story.answer.split(",")
    train = task.sample(10, torch.Generator().manual_seed(0))
    assert train.y.shape[0] == 10 and task.train_set().y.shape[0] == 50


def test_task_options_and_errors() -> None:
    with pytest.raises(ValueError, match="question"):
        get_task("babi_symbolic_4", question="up")
    task = get_task("babi_symbolic_4", question="e")
    assert all(s.question[1] == "e" for s in task.stories(20, 1))
    assert get_task("babi_symbolic_19").model_options["output_steps"] == 2
    model = rnnzoo.create("ggnn", hidden_size=4, **get_task("babi_symbolic_18").model_options)
    with pytest.raises(TypeError, match="NodeScores"):
        task.loss_of(model(get_task("babi_symbolic_18").split("valid").x), task.split("valid"))


def test_baseline_is_a_uniform_guess() -> None:
    task = get_task("babi_symbolic_4", test_size=50)
    assert task.baseline()["accuracy"] == pytest.approx(1 / 3)  # every task-4 story has 3 entities
    assert get_task("babi_symbolic_19").baseline()["accuracy"] == pytest.approx(1 / 16)


def test_ggnn_learns_task_4_from_50_stories() -> None:
    task = get_task("babi_symbolic_4", valid_size=300)
    torch.manual_seed(0)
    model = rnnzoo.create("ggnn", hidden_size=8, **task.model_options)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        batch = task.sample(10, gen)
        out = model(batch.x)
        assert isinstance(out, NodeScores)
        loss = task.loss_of(out, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert score_model(task, model, task.split("valid"))["accuracy"] == 1.0
