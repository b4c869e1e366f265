"""The default policy, combining what works in the practice benchmark (chosen on seed 0): review a
fading skill when one is due, otherwise Thompson sampling over the expected learning gain on the
unmastered goal skills (prerequisites first, because the model learns them faster; uncertain skills
get tried), ties broken by the most diagnostic item."""

from __future__ import annotations

from typing import Literal

import numpy as np

from metatutor.policy.base import Policy, Recommendation
from metatutor.policy.explore import ThompsonPolicy
from metatutor.policy.review import ReviewPolicy
from metatutor.policy.tracker import LearnerState, SkillTracker


class DefaultPolicy(Policy):
    name = "default"

    def __init__(self, tracker: SkillTracker, *, target: float = 0.7,
                 schedule: Literal["fsrs", "model"] = "model") -> None:
        super().__init__(tracker, target=target)
        self._review = ReviewPolicy(tracker, target=target, schedule=schedule,
                                    fallback=ThompsonPolicy(tracker, target=target))

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        return self.renamed(self._review.recommend(state, rng))
