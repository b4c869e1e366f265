"""The default policy, combining what works in the practice benchmark: review a fading skill when one is
due, otherwise Thompson sampling over the expected learning gain on the unmastered goal skills
(prerequisites first, because the model learns them faster; uncertain skills get tried); among the
items within 90% of the best gain, the one whose predicted success is nearest the target (70%).

Chosen on seed 0 of the builtin simulator and on the validation learners of the simulator fitted to
assist2009_pid fold 1 (never its test learners): on those, the success-target tie-break kept 31% fewer
items than mastery learning on the builtin simulator, with a higher post-test than the most-diagnostic
tie-break, and moved the fitted simulator's post-test from below `random` to above it. On the fitted
simulator's test learners it stays slightly below `random` (docs/benchmarks.md §5b)."""

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
                                    fallback=ThompsonPolicy(tracker, target=target, tiebreak="target"))

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        return self.renamed(self._review.recommend(state, rng))
