"""`Tracker`: the one learner-model interface that every decision reads (practice policies, learning
paths, resources, learner and class reports, at-risk flags, the dashboard).

A tracker holds a course (`CourseMap`) and keeps one `LearnerState` per learner:

* `new_state(goals)`, then `observe(state, item, correct, when)` per answer: in place, O(1) in the
  history (the shared bookkeeping by `state.record`, the model's belief by `_step`);
* `p_correct(state, items)`: P(correct) of items as the next answer, for the whole course at once by
  default; `p_correct_skills(state, skill_sets)` for items the course does not hold, by their skills;
* `mastery(state)` and `mastery_sd(state)`: per skill, a belief and its uncertainty;
* `practice_effect(state, item, goal_items)`: P(correct) on the goal items after practising `item`,
  answered right or wrong; `practice_gain` and `diagnosticity` are what the policies plan with;
* a state as JSON (`state_to_dict`) or bytes (`state_to_bytes`), the model as one directory
  (`save`/`load`, no pickle); `observe_many`, `p_correct_many`, `mastery_many` and
  `predict_responses` serve many learners at once.

Implementations: `SkillTracker` (BKT per skill + item offsets + ability + learning speed, the
baseline) and `MetaTracker` (meta-learned over learners-as-tasks on the population DKT, the default).
No decision code knows which one it holds.

Glossary: I items, S skills, G goal items, K skills of one item, B learners.
"""

from __future__ import annotations

import copy
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from fsrs import Scheduler

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.learner.course import CourseMap
from metatutor.learner.graph import SkillGraph
from metatutor.learner.profile import ProfileMatch
from metatutor.learner.state import (
    LATEST,
    LearnerState,
    bookkeeping_from_dict,
    bookkeeping_to_dict,
    new_bookkeeping,
    record,
    retrievability,
)


@dataclass(frozen=True)
class PracticeEffect:
    """What practising one item is predicted to do to the goal items."""

    item: int
    p_item: float  # P(correct) on the practised item now (the weight of the `right` branch)
    now: np.ndarray  # (G,) P(correct) on the goal items now
    right: np.ndarray  # (G,) after practising the item and answering it right
    wrong: np.ndarray  # (G,) after answering it wrong

    @property
    def expected(self) -> np.ndarray:
        """(G,) the expected P(correct) on the goal items after the practice."""
        return self.p_item * self.right + (1.0 - self.p_item) * self.wrong


@dataclass(frozen=True)
class Gain:
    """The expected rise of Σ_s weight_s · mastery_s from one more answer: per item, and each skill's
    own part (what a recommendation is named for)."""

    items: np.ndarray  # (I,)
    skills: np.ndarray  # (S,)


class Tracker(ABC):
    """A learner model for decisions; see the module docstring. Subclasses set `course` and implement
    `_new_belief`, `_step`, `p_correct`, `p_correct_skills`, `mastery`, `mastery_sd`, `practice_gain`,
    `diagnosticity`, `learn_rates`, the belief's JSON (`_belief_to_dict`, `_belief_from_dict`) and
    `save`/`load`."""

    name: ClassVar[str]
    course: CourseMap
    mastery_threshold: float = 0.95  # a mastery at or above this counts as mastered
    desired_retention: float = 0.9  # FSRS: a reviewed skill is due when its recall drops below this
    progress_every: int = 20  # answers between the snapshots that recent progress is measured from

    # ----- the course (model-agnostic structure) ------------------------------------------------
    @property
    def graph(self) -> SkillGraph:
        return self.course.graph

    @property
    def item_ids(self) -> np.ndarray:
        return self.course.item_ids

    @property
    def item_index(self) -> dict[str, int]:
        return self.course.item_index

    @property
    def skill_ids(self) -> np.ndarray:
        return self.course.skill_ids

    @property
    def link_skill(self) -> np.ndarray:
        return self.course.link_skill

    @property
    def link_item(self) -> np.ndarray:
        return self.course.link_item

    @property
    def item_ptr(self) -> np.ndarray:
        return self.course.item_ptr

    @property
    def skill_items(self) -> list[np.ndarray]:
        return self.course.skill_items

    @property
    def prereq(self) -> list[np.ndarray]:
        return self.course.prereq

    @property
    def n_skills(self) -> int:
        return self.course.n_skills

    @property
    def n_items(self) -> int:
        return self.course.n_items

    @property
    def scheduler(self) -> Scheduler:
        sched: Scheduler | None = self.__dict__.get("_scheduler")
        if sched is None:
            sched = self.__dict__["_scheduler"] = Scheduler(desired_retention=self.desired_retention,
                                                            enable_fuzzing=False)
        return sched

    # ----- one learner ------------------------------------------------------------------------
    def new_state(self, goals: list[str] | None = None, *, time: float = 0.0) -> LearnerState:
        """A new learner working toward `goals` (default: every skill)."""
        goal_idx, closure = self.course.closure(goals)
        return new_bookkeeping(self.n_skills, goal_idx, closure, self._new_belief(time), time=time)

    def observe(self, state: LearnerState, item: int, correct: int | bool, when: float | None = None,
                evidence: dict[str, Any] | None = None) -> None:
        """One answer to `item` at time `when` (default: the state's clock), in place and O(1) in the
        history; the one rule for answers as they arrive and for a history replayed: the learner's clock
        starts at their first answer, and an answer stamped earlier than the clock counts at the
        clock's time (time never runs backwards). `evidence` (hints used, response time, ...) is passed
        to the model, which may ignore it."""
        when = state.time if when is None else float(when)
        if not (math.isfinite(when) and 0.0 <= when <= LATEST):
            raise ConfigError(f"an answer's time must be seconds since 1970 up to the year 9800; got {when!r}")
        if not 0 <= int(item) < self.n_items:
            raise ConfigError(f"item index {item} is not in the course ({self.n_items} items)")
        if state.answers == 0:
            state.time = when
            self._start_clock(state, when)
        self._apply(state, int(item), int(correct), max(when, state.time), evidence)

    def _apply(self, state: LearnerState, item: int, correct: int, now: float,
               evidence: dict[str, Any] | None = None) -> None:
        """One answer at time `now` (already checked): the model's step, then the shared bookkeeping."""
        mastered = self._step(state, item, correct, now, evidence)
        record(state, item, self.course.skills_of(item), correct, now, mastered=mastered, scheduler=self.scheduler)
        every = self.progress_every
        if every > 0 and state.answers % every == 0:
            state.marks = [*state.marks[-1:], (state.answers, self.snapshot(state))]

    def _start_clock(self, state: LearnerState, when: float) -> None:  # noqa: B027
        """The learner's first answer comes at `when` (a model with a clock restarts it there)."""

    @abstractmethod
    def _new_belief(self, time: float) -> Any:
        """The model's belief about a learner with no answers."""

    @abstractmethod
    def _step(self, state: LearnerState, item: int, correct: int, now: float,
              evidence: dict[str, Any] | None) -> np.ndarray:
        """Update `state.belief` on one answer; return (K,) bool: which of the item's skills the model
        holds mastered after it."""

    @abstractmethod
    def p_correct(self, state: LearnerState, items: np.ndarray | None = None) -> np.ndarray:
        """(I,) P(correct) of every course item as the next answer, or of `items` only."""

    @abstractmethod
    def p_correct_skills(self, state: LearnerState, skill_sets: Sequence[Sequence[int]]) -> np.ndarray:
        """(M,) P(correct) of items the course does not hold, from their skills (indices) alone."""

    @abstractmethod
    def mastery(self, state: LearnerState) -> np.ndarray:
        """(S,) P(skill mastered) now."""

    @abstractmethod
    def mastery_sd(self, state: LearnerState) -> np.ndarray:
        """(S,) the uncertainty (sd) of each skill's mastery."""

    def mastery_belief(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        """(S,) mastery and (S,) its sd."""
        return self.mastery(state), self.mastery_sd(state)

    def beliefs(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        """(S,) mastery and (I,) P(correct) of every item (computed together where that is cheaper)."""
        return self.mastery(state), self.p_correct(state)

    def ability(self, state: LearnerState) -> float:
        """The learner's overall level (logit scale, 0 for the population)."""
        return state.ability

    @abstractmethod
    def practice_gain(self, state: LearnerState, weight: np.ndarray, *, belief: np.ndarray | None = None,
                      gate: np.ndarray | None = None) -> Gain:
        """The expected rise of Σ_s weight_s · mastery_s (S,) from answering each item. `belief`: a
        mastery (S,) to plan under instead of the model's (a draw, for Thompson sampling); `gate`: the
        mastery that decides whether prerequisites let a skill be learned (default: the belief)."""

    @abstractmethod
    def diagnosticity(self, state: LearnerState, items: np.ndarray) -> np.ndarray:
        """(len(items),) how much each item's answer tells about the mastery of its skills."""

    @abstractmethod
    def learn_rates(self, state: LearnerState, mastery: np.ndarray) -> np.ndarray:
        """(S,) the chance per practice answer of learning each unmastered skill, were the skills'
        mastery `mastery` (planning a path: each step assumes the earlier ones done)."""

    def practice_effect(self, state: LearnerState, item: int, goal_items: np.ndarray | None = None) -> PracticeEffect:
        """P(correct) on `goal_items` (default: the items of the goal skills and their prerequisites)
        now, and after practising `item` answered right or wrong (exact: the answer is observed on
        copies of the state)."""
        goals = self.course.items_of(np.flatnonzero(state.closure)) if goal_items is None else np.asarray(goal_items)
        p_item = float(self.p_correct(state, np.array([item]))[0])
        after = []
        for y in (1, 0):
            trial = self.copy_state(state)
            self.observe(trial, item, y)
            after.append(self.p_correct(trial, goals))
        return PracticeEffect(int(item), p_item, self.p_correct(state, goals), after[0], after[1])

    def profile(self, state: LearnerState) -> ProfileMatch | None:
        """The learner profile nearest this learner's start ("started like these learners"); None for a
        model without profiles."""
        return None

    def copy_state(self, state: LearnerState) -> LearnerState:
        """An independent copy (to plan on)."""
        return copy.deepcopy(state)

    def retrievability(self, state: LearnerState, skill: int) -> float:
        """FSRS probability of recall of a reviewed skill now (1.0 when never reviewed)."""
        return retrievability(state, skill, self.scheduler)

    def snapshot(self, state: LearnerState) -> np.ndarray:
        """What a progress snapshot keeps (default: the mastery now)."""
        return self.mastery(state)

    def progress(self, state: LearnerState, skills: np.ndarray) -> tuple[int, float] | None:
        """(n, rise of the mean mastery of `skills` over the last n answers), n between `progress_every`
        and twice that; None before `2 · progress_every` answers."""
        old = self._progress_mark(state)
        if old is None:
            return None
        answers, then = old
        return state.answers - answers, float(self.mastery(state)[skills].mean() - then[skills].mean())

    def _progress_mark(self, state: LearnerState) -> tuple[int, np.ndarray] | None:
        every = self.progress_every
        old = [mark for mark in state.marks if mark[0] >= every and state.answers - mark[0] >= every]
        return old[-1] if old else None

    # ----- many learners ------------------------------------------------------------------------
    def replay(self, history: Sequence[tuple[str, int, float]], goals: list[str] | None = None) -> LearnerState:
        """A learner's state from logged `(item id, correct, time)` answers (items not in the course are
        skipped)."""
        state = self.new_state(goals)
        for item, correct, when in history:
            i = self.item_index.get(str(item))
            if i is not None:
                self.observe(state, i, int(correct), float(when))
        return state

    def observe_many(self, states: Sequence[LearnerState], items: np.ndarray, correct: np.ndarray,
                     when: np.ndarray | None = None) -> None:
        """One answer for each of several learners."""
        for j, state in enumerate(states):
            self.observe(state, int(items[j]), int(correct[j]), None if when is None else float(when[j]))

    def p_correct_many(self, states: Sequence[LearnerState], items: np.ndarray | None = None) -> np.ndarray:
        """(B, I) P(correct) of every item (or of `items`) for each learner."""
        return np.stack([self.p_correct(s, items) for s in states]) if states else np.zeros((0, self.n_items))

    def mastery_many(self, states: Sequence[LearnerState]) -> np.ndarray:
        """(B, S) mastery of each learner."""
        return np.stack([self.mastery(s) for s in states]) if states else np.zeros((0, self.n_skills))

    def predict_responses(self, responses: Responses) -> np.ndarray:
        """(N,) P(correct) of each response from the same learner's earlier responses only (items not
        in the course: from their skills, and not observed); the batch counterpart of stepping each
        learner with `observe`."""
        out = np.empty(len(responses))
        times = responses.timestamp if responses.timestamp is not None else None
        for j in range(responses.n_learners):
            state = self.new_state()
            for r in range(responses.starts[j], responses.starts[j + 1]):
                i = self.item_index.get(str(responses.item_ids[responses.item[r]]))
                when = float(times[r]) if times is not None else 60.0 * (r - responses.starts[j])
                if i is None:
                    out[r] = self.p_correct_skills(state, [self._skill_codes(responses.skills_of(r))])[0]
                    continue
                out[r] = self.p_correct(state, np.array([i]))[0]
                self.observe(state, i, int(responses.correct[r]), max(when, 0.0))
        return out

    def _skill_codes(self, names: Sequence[str]) -> list[int]:
        return [self.course.skill_index[s] for s in names if s in self.course.skill_index]

    # ----- persistence ----------------------------------------------------------------------------
    def state_to_dict(self, state: LearnerState, *, keep_history: int = 200) -> dict[str, Any]:
        """A learner's state as JSON (the last `keep_history` answers of the history kept)."""
        out = bookkeeping_to_dict(state, keep_history=keep_history)
        out["marks"] = [[n, snap.tolist()] for n, snap in state.marks]
        out["belief"] = self._belief_to_dict(state.belief)
        return out

    def state_from_dict(self, data: dict[str, Any]) -> LearnerState:
        """A state written by `state_to_dict`."""
        state = bookkeeping_from_dict(data, self._belief_from_dict(data["belief"]))
        state.marks = [(int(n), np.asarray(s, dtype=np.float64)) for n, s in data.get("marks", [])]
        return state

    def state_to_bytes(self, state: LearnerState, *, keep_history: int = 200) -> bytes:
        """A learner's state as bytes (UTF-8 JSON; float64 values round-trip exactly)."""
        return json.dumps(self.state_to_dict(state, keep_history=keep_history), separators=(",", ":")).encode()

    def state_from_bytes(self, blob: bytes) -> LearnerState:
        try:
            data = json.loads(blob.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"not a stored learner state ({type(exc).__name__})") from None
        return self.state_from_dict(data)

    @abstractmethod
    def _belief_to_dict(self, belief: Any) -> dict[str, Any]: ...

    @abstractmethod
    def _belief_from_dict(self, data: dict[str, Any]) -> Any: ...

    @abstractmethod
    def with_course(self, course: CourseMap, difficulty: dict[str, float] | None = None) -> Tracker:
        """The same model serving another course: items it knows keep what it learned of them, new
        items are predicted from their skills and, where given, their predicted `difficulty` (logits,
        harder is higher; e.g. from an item's template and parameters, `metatutor.content`)."""

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the model as one directory (JSON + safetensors, no pickle)."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Self:
        """A model written by `save`."""
