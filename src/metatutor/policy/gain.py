"""Expected learning gain: look ahead one answer with the learner model and pick the item that most
raises the expected mastery of the goals and their prerequisites (a multi-skill item counts for each
of its skills; a skill whose prerequisites are unmastered is slow to learn, so it waits)."""

from __future__ import annotations

import numpy as np

from metatutor.policy.base import Policy, Recommendation
from metatutor.policy.tracker import LearnerState


class ExpectedGainPolicy(Policy):
    name = "gain"
    tolerance = 0.9  # items within this fraction of the best gain are equally good; then the most diagnostic

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        m, p = self.beliefs(state)
        return self.best_gain(state, m, p, m, why="largest expected gain in mastery of the goals")

    def best_gain(self, state: LearnerState, m: np.ndarray, p: np.ndarray, belief: np.ndarray, *, why: str,
                  kind: str = "practice") -> Recommendation:
        """The item with the largest expected gain under `belief`, ties broken by the success target."""
        todo = self.unmastered(state, m)
        weight = np.zeros(self.tracker.n_skills)
        weight[todo if len(todo) else np.flatnonzero(state.closure)] = 1.0
        gain = self.tracker.expected_gain(state, weight, belief) * self.inside(state)
        best = gain.max()
        if best <= 0:
            skill = int(np.flatnonzero(state.closure)[np.argmin(m[state.closure])])
            item = self.closest_to_target(self.tracker.skill_items[skill], p)
            return self.make(item, skill, m, p, "every goal skill is mastered; keeping the weakest fresh", "review")
        items = np.flatnonzero(gain >= self.tolerance * best)
        known, guess = self.tracker.answer_probabilities(state, items)
        item = int(items[np.argmax(known - guess)])
        skill = self.main_skill(item, m, todo)
        return self.make(item, skill, m, p, f"{why}; its answer tells the most about mastery", kind)
