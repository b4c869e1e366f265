"""The interface every practice policy follows, and the pieces they share.

A policy looks at one learner's `LearnerState` under a learner model (any `metatutor.learner.Tracker`;
no policy knows which implementation it holds) and returns a `Recommendation`: the item, the skill it
works on, the predicted chance of success, and a plain-language reason. Randomness comes only from the
`rng` passed in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np

from metatutor.learner import LearnerState, Tracker


@dataclass(frozen=True)
class Recommendation:
    """What to do next, and why."""

    item: str
    skill: str
    predicted: float  # P(correct) under the learner model
    mastery: float  # P(skill mastered) now
    reason: str
    policy: str
    kind: str = "practice"  # practice | review | explore
    item_index: int = -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Policy(ABC):
    """Chooses the next item for one learner."""

    name: ClassVar[str]

    def __init__(self, tracker: Tracker, *, target: float = 0.7) -> None:
        self.tracker = tracker
        self.target = target

    @abstractmethod
    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation: ...

    # ----- shared pieces ---------------------------------------------------------------------
    def beliefs(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        """(S,) mastery now and (I,) predicted P(correct) of every item."""
        return self.tracker.beliefs(state)

    def renamed(self, rec: Recommendation) -> Recommendation:
        """A recommendation another policy made on this one's behalf, under this one's name."""
        return replace(rec, policy=self.name)

    def unmastered(self, state: LearnerState, mastery: np.ndarray) -> np.ndarray:
        """Closure skills (goals and their prerequisites) not yet at the mastery threshold."""
        return np.flatnonzero(state.closure & (mastery < self.tracker.mastery_threshold))

    def ordered_closure(self, state: LearnerState) -> list[int]:
        """The goals and their prerequisites, in prerequisite order."""
        index = {s: k for k, s in enumerate(self.tracker.graph.skills)}
        names = [str(self.tracker.skill_ids[k]) for k in np.flatnonzero(state.closure)
                 if len(self.tracker.skill_items[k])]  # skills without items cannot be practised
        return [index[s] for s in self.tracker.graph.order(names)]

    def inside(self, state: LearnerState) -> np.ndarray:
        """(I,) items that need no skill outside the goals' closure."""
        return self.tracker.course.inside(state.closure)

    def items_of(self, skills: np.ndarray, state: LearnerState | None = None) -> np.ndarray:
        """Items of `skills`; with `state`, only those inside its closure (when any are)."""
        items = [self.tracker.skill_items[s] for s in skills]
        out = np.unique(np.concatenate(items)) if items else np.zeros(0, dtype=np.int64)
        if state is not None:
            keep = out[self.inside(state)[out]]
            out = keep if len(keep) else out
        return out

    def closest_to_target(self, items: np.ndarray, p: np.ndarray) -> int:
        return int(items[np.argmin(np.abs(p[items] - self.target))])

    def main_skill(self, item: int, mastery: np.ndarray, among: np.ndarray | None = None) -> int:
        """The item's least-mastered skill (within `among` when given)."""
        skills = self.tracker.course.skills_of(item)
        if among is not None and np.isin(skills, among).any():
            skills = skills[np.isin(skills, among)]
        return int(skills[np.argmin(mastery[skills])]) if len(skills) else -1

    def make(self, item: int, skill: int, mastery: np.ndarray, p: np.ndarray, why: str,
             kind: str = "practice") -> Recommendation:
        t = self.tracker
        name = str(t.skill_ids[skill]) if skill >= 0 else ""
        return Recommendation(item=str(t.item_ids[item]), skill=name, predicted=float(p[item]),
                              mastery=float(mastery[skill]) if skill >= 0 else float("nan"),
                              reason=explain(t, mastery, item, skill, float(p[item]), why, kind),
                              policy=self.name, kind=kind, item_index=item)


def explain(tracker: Tracker, mastery: np.ndarray, item: int, skill: int, predicted: float, why: str,
            kind: str) -> str:
    """`fractions 0.42 → practise item q17 (predicted 68% success): <why>; its prerequisite, division,
    is mastered`."""
    verb = {"practice": "practise", "review": "review", "explore": "try"}.get(kind, "practise")
    if skill < 0:
        return f"{verb} item {tracker.item_ids[item]} (predicted {predicted:.0%} success): {why}"
    name = tracker.skill_ids[skill]
    text = f"{name} {mastery[skill]:.2f} → {verb} item {tracker.item_ids[item]} (predicted {predicted:.0%} success): {why}"
    pre = tracker.prereq[skill]
    if len(pre):
        threshold = tracker.mastery_threshold
        done = [str(tracker.skill_ids[q]) for q in pre if mastery[q] >= threshold]
        todo = [f"{tracker.skill_ids[q]} ({mastery[q]:.2f})" for q in pre if mastery[q] < threshold]
        if done:
            text += f"; its prerequisite{'s' if len(done) > 1 else ''}, {', '.join(done)}, " \
                    f"{'are' if len(done) > 1 else 'is'} mastered"
        if todo:
            text += f"; not yet mastered: {', '.join(todo)}"
    return text
