"""Spaced review: bring back mastered skills as they fade.

Two schedules: `"fsrs"` (recall-like items: each skill is an FSRS card, due when its retrievability
falls below the desired retention) and `"model"` (the learner model's own decay: due when a skill once
mastered has fallen below `review_below`). With nothing due, a fallback policy chooses."""

from __future__ import annotations

from typing import Literal

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Policy, Recommendation
from metatutor.policy.gain import ExpectedGainPolicy


class ReviewPolicy(Policy):
    name = "review"

    def __init__(self, tracker: Tracker, *, target: float = 0.7, schedule: Literal["fsrs", "model"] = "fsrs",
                 review_below: float = 0.85, fallback: Policy | None = None) -> None:
        super().__init__(tracker, target=target)
        self.schedule = schedule
        self.review_below = review_below
        self.fallback = fallback or ExpectedGainPolicy(tracker, target=target)

    def due(self, state: LearnerState, m: np.ndarray) -> list[tuple[float, int]]:
        """(score, skill) of closure skills due for review, most due first (lower score = more due)."""
        once = np.flatnonzero(state.closure & state.mastered_once)
        if self.schedule == "fsrs":
            due = [(self.tracker.retrievability(state, int(s)), int(s)) for s in once]
            limit = self.tracker.desired_retention
        else:
            due, limit = [(float(m[s]), int(s)) for s in once], self.review_below
        return sorted(d for d in due if d[0] < limit)

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        m = self.tracker.mastery(state)
        due = self.due(state, m)
        if not due:
            return self.renamed(self.fallback.recommend(state, rng))
        score, skill = due[0]
        p = self.tracker.p_correct(state)
        item = self.closest_to_target(self.items_of(np.array([skill]), state), p)
        what = "recall" if self.schedule == "fsrs" else "mastery"
        return self.make(item, skill, m, p, f"mastered before, now fading (estimated {what} {score:.0%})", "review")
