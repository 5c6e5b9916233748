"""bAbI format parser/writer, the bAbI-style generator (checked by an independent re-simulation), the encoding."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.data import babi
from rnnzoo.data.babi_gen import ACTORS, LOCATIONS, OBJECTS, generate

# the released files' layout: ids count questions too, supporting ids name fact lines, a story restarts at 1
REAL_FORMAT = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel? \thallway\t4
1 Sandra travelled to the office.
2 Where is Sandra? \toffice\t1
"""


def test_parse_real_layout() -> None:
    stories = babi.parse_lines(REAL_FORMAT.splitlines())
    assert len(stories) == 2
    first = stories[0]
    assert first.sentences[0] == ["Mary", "moved", "to", "the", "bathroom"]
    assert len(first.sentences) == 4
    assert first.questions[0] == babi.Question(("Where", "is", "Mary"), "bathroom", (0,), 2)
    assert first.questions[1] == babi.Question(("Where", "is", "Daniel"), "hallway", (2,), 4)
    assert stories[1].questions[0].position == 1 and stories[1].questions[0].supports == (0,)


@pytest.mark.parametrize(("lines", "match"), [
    (["1 Mary moved to the office.", "3 John went to the garden."], "expected line id 2"),
    (["2 Mary moved to the office."], "start at id 1"),
    (["1 Mary moved to the office.", "2 Where is Mary?\toffice\t2"], "supporting id '2'"),
    (["Mary moved to the office."], "expected '<id> <text>'"),
])
def test_parse_rejects_bad_lines(lines: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        babi.parse_lines(lines)


@pytest.mark.parametrize("task", [1, 2, 3, 6])
def test_write_then_parse_round_trip(task: int, tmp_path) -> None:
    stories = generate(task, 30, seed=4)
    path = babi.write(stories, tmp_path / f"qa{task}.txt")
    text = path.read_text().splitlines()
    assert text[0].startswith("1 ") and text[0].endswith(".")
    assert any("?\t" in line for line in text)
    assert babi.parse(path) == stories


def test_generate_is_seeded() -> None:
    assert generate(2, 5, seed=1) == generate(2, 5, seed=1)
    assert generate(2, 5, seed=1) != generate(2, 5, seed=2)
    assert generate(1, 5, seed=1) != generate(6, 5, seed=1)[:5]


def test_generate_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        generate(4, 1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        generate(1, 1, seed=-1)


def _oracle(story: babi.Story, q: babi.Question) -> tuple[str, set[int]]:
    """The answer and supporting facts, by re-reading the sentences (independent of the generator's world)."""
    actor_at: dict[str, tuple[str, int]] = {}
    holder: dict[str, tuple[str, int]] = {}
    obj_at: dict[str, tuple[str, set[int]]] = {}
    arrivals: dict[str, list[tuple[str, set[int]]]] = {}
    for i, s in enumerate(story.sentences[:q.position]):
        actor, last = s[0], s[-1] if s[-1] != "there" else s[-2]
        assert actor in ACTORS
        if last in LOCATIONS:  # a move
            before = actor_at.get(actor)
            actor_at[actor] = (last, i)
            for o, (who, g) in holder.items():
                if who == actor:
                    obj_at[o] = (last, {g, i})
                    arrivals[o].append((last, {g, before[1], i}))
        elif s[1] in ("got", "picked", "grabbed", "took"):
            assert last in OBJECTS and last not in holder
            loc, m = actor_at[actor]
            assert obj_at.get(last, (loc,))[0] == loc, "picked up where it is not"
            holder[last] = (actor, i)
            obj_at[last] = (loc, {i, m})
            arrivals.setdefault(last, [(loc, {i, m})])
        else:
            assert last in OBJECTS and holder[last][0] == actor, "dropped what it does not hold"
            del holder[last]
            obj_at[last] = (actor_at[actor][0], {i, actor_at[actor][1]})
    w = q.words
    if w[:2] == ("Where", "is") and w[2] in ACTORS:
        loc, i = actor_at[w[2]]
        return loc, {i}
    if w[0] == "Is":
        loc, i = actor_at[w[1]]
        return ("yes" if loc == w[4] else "no"), {i}
    if w[:2] == ("Where", "is"):
        loc, sup = obj_at[w[3]]
        return loc, sup
    assert w[:2] == ("Where", "was") and w[4:6] == ("before", "the")
    hist = arrivals[w[3]]
    k = max(j for j, (loc, _) in enumerate(hist) if loc == w[6])
    assert k >= 1
    return hist[k - 1][0], hist[k][1]


@pytest.mark.parametrize("task", [1, 2, 3, 6])
def test_answers_and_supports_agree_with_a_resimulation(task: int) -> None:
    n_support = {1: 1, 2: 2, 3: 3, 6: 1}[task]
    for story in generate(task, 40, seed=7):
        assert len(story.questions) == 5
        for q in story.questions:
            answer, supports = _oracle(story, q)
            assert q.answer == answer
            assert set(q.supports) == supports
            assert len(q.supports) == n_support
            assert all(0 <= s < q.position for s in q.supports)


def test_yes_no_balanced() -> None:
    answers = [q.answer for s in generate(6, 200, seed=0) for q in s.questions]
    assert set(answers) == {"yes", "no"}
    assert 0.4 < answers.count("yes") / len(answers) < 0.6


def test_encode_shapes_and_windows() -> None:
    stories = generate(2, 20, seed=3)
    vocab = babi.Vocabulary.build(stories)
    assert vocab.itos[0] == "<pad>" and vocab.id("Mary") == vocab.id("mary")
    x, y = babi.encode(stories, vocab, memory_size=6)
    n = sum(len(s.questions) for s in stories)
    assert x.story.shape[:2] == (n, 6) and x.question.shape[0] == n and y.answer.shape == (n,)
    i = 0
    for s in stories:
        for q in s.questions:
            kept = s.sentences[max(0, q.position - 6):q.position]
            assert int(x.story_lengths[i]) == len(kept)
            for j, f in enumerate(kept):
                assert x.story[i, j, :len(f)].tolist() == vocab.ids(f)
                assert int(x.story[i, j, len(f):].abs().sum()) == 0
                assert x.words[i, int(x.sentence_ends[i, j])].item() == vocab.id(f[-1])
            assert (x.sentence_ends[i, len(kept):] == -1).all()
            flat = [vocab.id(w) for f in kept for w in f]
            assert x.words[i, :int(x.word_lengths[i])].tolist() == flat
            assert vocab.itos[int(y.answer[i])] == q.answer.lower()
            start = max(0, q.position - 6)
            want = sorted(sp - start if sp >= start else -1 for sp in q.supports)
            assert sorted(v for v in y.supports[i].tolist()[:len(q.supports)]) == want
            assert (y.supports[i, len(q.supports):] == -1).all()
            i += 1


def test_encode_rejects_too_short_widths() -> None:
    stories = generate(1, 2, seed=0)
    vocab = babi.Vocabulary.build(stories)
    with pytest.raises(ValueError, match="sentence_len"):
        babi.encode(stories, vocab, sentence_len=2)
    with pytest.raises(ValueError, match="word_len"):
        babi.encode(stories, vocab, word_len=3)
    with pytest.raises(KeyError, match="'zebra'"):
        vocab.id("zebra")
    x, _ = babi.encode(stories, vocab, memory_size=50, pad_memory=True)
    assert x.story.shape[1] == 50 and x.story.dtype == torch.long


def test_archive_checksum(tmp_path, monkeypatch) -> None:
    path = tmp_path / "tasks_1-20_v1-2.tar.gz"
    path.write_bytes(b"abc")
    assert babi.check_archive(path) == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc"), RFC 1321 appendix A.5
    monkeypatch.setattr(babi, "BABI_MD5", "0" * 32)
    with pytest.raises(ValueError, match="expected 0000"):
        babi.check_archive(path)


def test_find_task_file(tmp_path) -> None:
    name = "qa1_single-supporting-fact_train.txt"
    babi.write(generate(1, 2, seed=0), tmp_path / "tasks_1-20_v1-2" / "en-10k" / name)
    en = babi.write(generate(1, 2, seed=0), tmp_path / "tasks_1-20_v1-2" / "en" / name)
    assert babi.find_task_file(tmp_path, 1, "train") == en
    with pytest.raises(FileNotFoundError, match="qa2_two-supporting-facts_test.txt"):
        babi.find_task_file(tmp_path, 2, "test")
