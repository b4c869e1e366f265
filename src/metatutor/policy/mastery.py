"""Mastery learning: skills in prerequisite order, each practised until P(mastered) ≥ 0.95 — the rule
most tutors ship (OATutor, ASSISTments skill builders) and the baseline to beat."""

from __future__ import annotations

import numpy as np

from metatutor.learner import LearnerState
from metatutor.policy.base import Policy, Recommendation


class MasteryPolicy(Policy):
    name = "mastery"

    def recommend(self, state: LearnerState, rng: np.random.Generator) -> Recommendation:
        t = self.tracker
        m, p = self.beliefs(state)
        threshold = t.mastery_threshold
        order = self.ordered_closure(state)
        todo = [s for s in order if m[s] < threshold]
        if todo:
            skill, why = todo[0], f"first skill in prerequisite order below the {threshold:.2f} mastery threshold"
        else:
            skill, why = min(order, key=lambda s: m[s]), "every goal skill is mastered; keeping the weakest fresh"
        item = int(rng.choice(self.items_of(np.array([skill]), state)))
        return self.make(item, skill, m, p, why)
