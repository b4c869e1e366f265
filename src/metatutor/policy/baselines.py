"""Baselines: a random item among the goals' skills, and a fixed curriculum in prerequisite order."""

from __future__ import annotations

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Policy, Recommendation


class RandomPolicy(Policy):
    """Any item that works on a goal skill or one of its prerequisites, uniformly."""

    name = "random"

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        m, p = self.beliefs(state)
        items = self.items_of(np.flatnonzero(state.closure), state)
        item = int(rng.choice(items))
        return self.make(item, self.main_skill(item, m), m, p, "chosen at random among the goals' items")


class CurriculumPolicy(Policy):
    """The same path for everyone: the goals' skills in prerequisite order, `per_skill` items each,
    whatever the answers; then around again."""

    name = "curriculum"

    def __init__(self, tracker: Tracker, *, target: float = 0.7, per_skill: int = 8) -> None:
        super().__init__(tracker, target=target)
        self.per_skill = per_skill

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        m, p = self.beliefs(state)
        order = self.ordered_closure(state)
        step = state.answers  # all answers: the stored history may keep only the last
        skill = order[(step // self.per_skill) % len(order)]
        item = int(rng.choice(self.items_of(np.array([skill]), state)))
        n = step % self.per_skill + 1
        return self.make(item, skill, m, p, f"step {n} of {self.per_skill} on this skill in the fixed curriculum")
