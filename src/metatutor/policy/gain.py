"""Expected learning gain: look ahead one answer with the learner model and pick the item that most
raises the expected mastery of the goals and their prerequisites (a multi-skill item counts for each
of its skills; a skill whose prerequisites are unmastered is slow to learn, so it waits)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Policy, Recommendation

TieBreak = Literal["diagnostic", "target"]


class ExpectedGainPolicy(Policy):
    """Items within `tolerance` of the best expected gain are equally good; among them `tiebreak`
    chooses the most diagnostic item (the answer that best separates mastered from not) or the one
    whose predicted success is nearest the target."""

    name = "gain"

    def __init__(self, tracker: Tracker, *, target: float = 0.7, tolerance: float = 0.9,
                 tiebreak: TieBreak = "diagnostic") -> None:
        super().__init__(tracker, target=target)
        self.tolerance = tolerance
        self.tiebreak = tiebreak

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        m, p = self.beliefs(state)
        return self.best_gain(state, m, p, m, why="largest expected gain in mastery of the goals")

    def best_gain(self, state: LearnerState, m: np.ndarray, p: np.ndarray, belief: np.ndarray, *, why: str,
                  kind: str = "practice") -> Recommendation:
        """The item with the largest expected gain under `belief` (learning gated by the prerequisites'
        mastery `m`, the posterior mean), ties broken as `tiebreak` says."""
        todo = self.unmastered(state, m)
        t = self.tracker
        weight = np.zeros(t.n_skills)
        weight[todo if len(todo) else np.flatnonzero(state.closure)] = 1.0
        planned = t.practice_gain(state, weight, belief=belief, gate=m)
        per_skill = planned.skills
        gain = planned.items * self.inside(state)
        best = gain.max()
        if best <= 0:  # nothing to gain: the weakest goal skill, the item nearest the target
            skill = int(np.flatnonzero(state.closure)[np.argmin(m[state.closure])])
            item = self.closest_to_target(self.tracker.skill_items[skill], p)
            if len(todo):  # a learned model may predict no rise from any item (its dynamics are its own)
                return self.make(item, skill, m, p, "no item is predicted to raise the goals' mastery; "
                                 "practising the weakest goal skill", kind)
            return self.make(item, skill, m, p, "every goal skill is mastered; keeping the weakest fresh", "review")
        items = np.flatnonzero(gain >= self.tolerance * best)
        if self.tiebreak == "target":
            item = self.closest_to_target(items, p)
            why += f"; of the equally useful items, {self.nearest_phrase(float(p[item]))}"
        else:
            item = int(items[np.argmax(t.diagnosticity(state, items))])
            why += "; its answer tells the most about mastery"
        skills = t.course.skills_of(item)  # named for: the skill it most helps
        return self.make(item, int(skills[np.argmax(per_skill[skills])]), m, p, why, kind)

    def nearest_phrase(self, predicted: float, *, slack: float = 0.15) -> str:
        """How the success-target tie-break chose, in words a learner can check against the predicted
        success shown beside it (all candidates may be far from the target on a skill that is new)."""
        if predicted < self.target - slack:
            return f"the easiest (none comes near {self.target:.0%} success yet)"
        if predicted > self.target + slack:
            return f"the hardest (all are above {self.target:.0%} success)"
        return f"the one nearest {self.target:.0%} success"
