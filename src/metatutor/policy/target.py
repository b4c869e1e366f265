"""Target difficulty: on the skills ready to learn, the item whose predicted success is closest to a
target (default 0.7), optionally only within a band."""

from __future__ import annotations

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Policy, Recommendation


class TargetDifficultyPolicy(Policy):
    name = "target"

    def __init__(self, tracker: Tracker, *, target: float = 0.7, band: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__(tracker, target=target)
        self.band = band

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        m, p = self.beliefs(state)
        skills = self.ready(state, m)
        items = self.items_of(skills, state)
        inside = items[(p[items] >= self.band[0]) & (p[items] <= self.band[1])]
        item = self.closest_to_target(inside if len(inside) else items, p)
        return self.make(item, self.main_skill(item, m, skills), m, p,
                         f"the item closest to the {self.target:.0%} success target on a skill ready to learn")

    def ready(self, state: LearnerState, m: np.ndarray) -> np.ndarray:
        """Unmastered closure skills whose prerequisites are mastered (else all unmastered, else all)."""
        threshold = self.tracker.mastery_threshold
        todo = self.unmastered(state, m)
        if not len(todo):
            return np.flatnonzero(state.closure)
        ready = [s for s in todo if (m[self.tracker.prereq[s]] >= threshold).all()]
        return np.asarray(ready if ready else todo, dtype=np.int64)
