"""Learning paths: from a learner's current mastery to a set of goal skills, the skills to work on in
prerequisite order, each with the answers it is expected to take."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from metatutor.learner import LearnerState, Tracker


@dataclass(frozen=True)
class PathStep:
    skill: str
    mastery: float  # P(mastered) now
    items_needed: int  # expected answers to reach the mastery threshold
    prerequisites: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_items(mastery: float, learn: float, threshold: float, *, confirm: int = 2) -> int:
    """Answers to reach `threshold`: until learning is likely (1 − (1 − learn)^n ≥ threshold on what
    is unmastered), plus `confirm` answers that show it."""
    if mastery >= threshold:
        return 0
    need = 1.0 - (1.0 - threshold) / max(1.0 - mastery, 1e-9)
    n = math.log(max(1.0 - need, 1e-9)) / math.log(max(1.0 - learn, 1e-9))
    return math.ceil(n) + confirm


def learning_path(tracker: Tracker, state: LearnerState, goals: list[str] | None = None) -> list[PathStep]:
    """The unmastered skills among `goals` (default: the state's goals) and their prerequisites, in
    prerequisite order, with estimated answers each (a skill is learned once its prerequisites are, so
    each step's estimate assumes the steps before it are done)."""
    threshold = tracker.mastery_threshold
    names = goals if goals is not None else [str(tracker.skill_ids[g]) for g in state.goals]
    closure = tracker.graph.closure(names)
    index = {s: k for k, s in enumerate(tracker.graph.skills)}
    now = tracker.mastery(state)
    planned = now.copy()  # mastery once the steps before are done
    steps = []
    for skill in tracker.graph.order(closure):
        k = index[skill]
        if planned[k] >= threshold:
            continue
        learn = min(float(tracker.learn_rates(state, planned)[k]), 0.9)
        steps.append(PathStep(skill, float(now[k]), expected_items(float(now[k]), learn, threshold),
                              tuple(tracker.graph.prerequisites(skill))))
        planned[k] = threshold
    return steps
