"""A seeded generator of bAbI-style stories for tasks 1, 2, 3 and 6 ("bAbI-style (regenerated)", never "bAbI").

The real bAbI archive (:data:`rnnzoo.data.babi.BABI_URL`) cannot be reached from this project's build machines.
This is a clean-room Python re-implementation of the design of facebookarchive/bAbI-tasks (Lua, the authors'
rewrite of the generator behind the released data; its own README says its output is "very similar" but not the
same): a **world simulation** with actors, locations and objects, actions ``go``/``get``/``drop`` that are only
performed when valid (an actor gets an object nobody holds, at the actor's own location; drops what it holds),
a knowledge tracker that records, for every fact it knows, **the story facts that support it**, and templates that
turn actions and questions into sentences. The tasks (names as in the released files, examples from this
generator):

* 1 single supporting fact, "Where is Mary?" -> the location of Mary's last move (1 supporting fact);
* 2 two supporting facts, "Where is the football?" -> where its holder last went (the get and the move), or where
  it was dropped (the drop and the holder's move);
* 3 three supporting facts, "Where was the football before the kitchen?" -> the object's location before its
  most recent arrival at the kitchen (one of its last three changes of location; the get and the two moves);
* 6 yes/no questions, "Is Mary in the garden?" -> yes / no (half and half), supported by Mary's last move.

Every story holds :data:`QUESTIONS_PER_STORY` (5) questions, as the released files do, so "1k" (the paper's
1,000 training questions) is 200 stories. Generation uses only a NumPy ``Generator`` seeded with ``seed``:
the same ``(task, n_stories, seed)`` gives the same stories on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .babi import Question, Story, tokenize

__all__ = ["ACTORS", "LOCATIONS", "OBJECTS", "QUESTIONS_PER_STORY", "TASKS", "generate"]

ACTORS = ("Mary", "John", "Daniel", "Sandra")
LOCATIONS = ("bathroom", "hallway", "garden", "office", "bedroom", "kitchen")
OBJECTS = ("football", "apple", "milk")
GO = ("{a} moved to the {l}", "{a} went to the {l}", "{a} journeyed to the {l}", "{a} travelled to the {l}",
      "{a} went back to the {l}")
GET = ("{a} got the {o}", "{a} picked up the {o}", "{a} grabbed the {o}", "{a} took the {o}",
       "{a} got the {o} there", "{a} picked up the {o} there")
DROP = ("{a} dropped the {o}", "{a} discarded the {o}", "{a} put down the {o}", "{a} left the {o}",
        "{a} dropped the {o} there", "{a} left the {o} there")
QUESTIONS_PER_STORY = 5
TASKS = {1: "single-supporting-fact", 2: "two-supporting-facts", 3: "three-supporting-facts",
         6: "yes-no-questions"}
# (probability of a go action, fewest and most actions between two questions); get/drop share the rest
_SETTINGS = {1: (1.0, 2, 2), 2: (0.5, 1, 5), 3: (0.5, 2, 8), 6: (0.75, 2, 2)}


@dataclass
class _World:
    """The simulated world and what the story has told about it (with the supporting fact indices)."""

    actor_at: dict[str, tuple[str, int]] = field(default_factory=dict)  # actor -> (location, fact of the move)
    holder: dict[str, tuple[str, int]] = field(default_factory=dict)  # object -> (actor, fact of the get)
    object_at: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)  # object -> (loc, supports)
    history: dict[str, list[tuple[str, tuple[int, ...]]]] = field(default_factory=dict)  # object -> its arrivals

    def go(self, actor: str, loc: str, fact: int) -> None:
        before = self.actor_at.get(actor)
        self.actor_at[actor] = (loc, fact)
        for obj, (who, got) in self.holder.items():
            if who == actor and before is not None:
                # where is it: the get and this move; where was it before here: the get and both moves
                self.object_at[obj] = (loc, tuple(sorted((got, fact))))
                self.history[obj].append((loc, tuple(sorted((got, before[1], fact)))))

    def get(self, actor: str, obj: str, fact: int) -> None:
        loc, moved_at = self.actor_at[actor]
        self.holder[obj] = (actor, fact)
        self.object_at[obj] = (loc, tuple(sorted((fact, moved_at))))
        if obj not in self.history:  # its first known location (picked up where it lay: no change)
            self.history[obj] = [(loc, tuple(sorted((fact, moved_at))))]

    def drop(self, actor: str, obj: str, fact: int) -> None:
        del self.holder[obj]
        loc, moved_at = self.actor_at[actor]
        self.object_at[obj] = (loc, tuple(sorted((fact, moved_at))))


def _act(task: int, world: _World, rng: np.random.Generator, fact: int) -> list[str]:
    """Perform one valid random action on ``world`` (as fact number ``fact``); its sentence as tokens."""
    p_go = _SETTINGS[task][0]
    while True:
        actor = ACTORS[rng.integers(len(ACTORS))]
        kind = "go" if rng.random() < p_go else ("get" if rng.random() < 0.5 else "drop")
        if kind == "go":
            here = world.actor_at.get(actor, (None, -1))[0]
            choices = [loc for loc in LOCATIONS if loc != here]
            loc = choices[rng.integers(len(choices))]
            world.go(actor, loc, fact)
            return tokenize(GO[rng.integers(len(GO))].format(a=actor, l=loc))
        if actor not in world.actor_at:
            continue
        if kind == "get":
            here = world.actor_at[actor][0]
            free = [o for o in OBJECTS if o not in world.holder and world.object_at.get(o, (here,))[0] == here]
            if not free:
                continue
            obj = free[rng.integers(len(free))]
            world.get(actor, obj, fact)
            return tokenize(GET[rng.integers(len(GET))].format(a=actor, o=obj))
        held = [o for o in OBJECTS if world.holder.get(o, ("",))[0] == actor]
        if not held:
            continue
        obj = held[rng.integers(len(held))]
        world.drop(actor, obj, fact)
        return tokenize(DROP[rng.integers(len(DROP))].format(a=actor, o=obj))


def _ask(task: int, world: _World, rng: np.random.Generator, position: int) -> Question | None:
    """A question the story so far answers (None when there is none yet)."""
    if task in (1, 6):
        known = sorted(world.actor_at)
        if not known:
            return None
        actor = known[rng.integers(len(known))]
        loc, fact = world.actor_at[actor]
        if task == 1:
            return Question(("Where", "is", actor), loc, (fact,), position)
        if rng.random() < 0.5:
            return Question(("Is", actor, "in", "the", loc), "yes", (fact,), position)
        other = [x for x in LOCATIONS if x != loc]
        asked = other[rng.integers(len(other))]
        return Question(("Is", actor, "in", "the", asked), "no", (fact,), position)
    if task == 2:
        known = sorted(world.object_at)
        if not known:
            return None
        obj = known[rng.integers(len(known))]
        loc, sup = world.object_at[obj]
        return Question(("Where", "is", "the", obj), loc, sup, position)
    candidates = []  # (object, k): hist[k] is the object's latest arrival at its location, k among the last 3
    for obj, hist in sorted(world.history.items()):
        names = [h[0] for h in hist]
        for k in range(max(1, len(hist) - 3), len(hist)):
            if k == len(names) - 1 - names[::-1].index(names[k]):
                candidates.append((obj, k))
    if not candidates:
        return None
    obj, k = candidates[rng.integers(len(candidates))]
    (before, _), (last, supports) = world.history[obj][k - 1:k + 1]
    return Question(("Where", "was", "the", obj, "before", "the", last), before, supports, position)


def _story(task: int, rng: np.random.Generator) -> Story:
    _, low, high = _SETTINGS[task]
    world, story = _World(), Story()
    while len(story.questions) < QUESTIONS_PER_STORY:
        for _ in range(int(rng.integers(low, high + 1))):
            story.sentences.append(_act(task, world, rng, len(story.sentences)))
        q = _ask(task, world, rng, len(story.sentences))
        if q is not None:
            story.questions.append(q)
    return story


def generate(task: int, n_stories: int, seed: int) -> list[Story]:
    """``n_stories`` bAbI-style stories of ``task`` (1, 2, 3 or 6), each with 5 questions, from ``seed``.

    >>> s = generate(1, 2, seed=0)
    >>> len(s), len(s[0].questions), s[0].questions[0].words[:2]
    (2, 5, ('Where', 'is'))
    """
    if task not in _SETTINGS:
        raise ValueError(f"task must be one of {sorted(_SETTINGS)} (the regenerated tasks), got {task!r}")
    if not isinstance(n_stories, int) or n_stories < 0:
        raise ValueError(f"n_stories must be an int >= 0, got {n_stories!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    rng = np.random.default_rng([seed, task])
    return [_story(task, rng) for _ in range(n_stories)]
