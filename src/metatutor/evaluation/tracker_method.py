"""Any learner model of the decision interface (`metatutor.learner.Tracker`) as a cold-start method, so
that `benchmark coldstart` scores the models that decide beside the meta-learners: a new learner's
support answers are observed one by one, then each query item is predicted from that state without
feedback (the model's P(correct) now; items the model's course lacks from their skills).

`tracker` is the hand-built `SkillTracker` (the baseline that the practice policies were tuned on).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.learner import SkillGraph, Tracker, fit_tracker
from metatutor.meta.base import ColdStartMethod, Population

TRACKER_METHODS = ("tracker",)


class TrackerMethod(ColdStartMethod):
    """A learner model fitted on the training learners (its course: the items of the training learners)."""

    def __init__(self, kind: str = "tracker", **settings: Any) -> None:
        self.kind, self.settings = kind, settings
        self.name = kind  # type: ignore[misc]

    def _fit(self, train: Responses, valid: Responses | None, population: Population) -> None:
        self.tracker_: Tracker = fit_tracker(self.kind, train, valid, SkillGraph.estimate(train), **self.settings)

    def predict_query(self, support: Responses, query: Responses) -> np.ndarray:
        self._check_fitted()
        t = self.tracker_
        out = np.empty(len(query))
        for j in range(query.n_learners):
            lo, hi = query.starts[j], query.starts[j + 1]
            learner = query.learner_ids[query.learner[lo]]
            rows = np.flatnonzero(support.learner_ids[support.learner] == learner) if len(support) else np.zeros(0, int)
            history = [(str(support.item_ids[support.item[r]]), int(support.correct[r]), 60.0 * n)
                       for n, r in enumerate(rows)]
            state = t.replay(history)
            p = t.p_correct(state)
            for r in range(lo, hi):
                i = t.item_index.get(str(query.item_ids[query.item[r]]))
                out[r] = p[i] if i is not None else t.p_correct_skills(
                    state, [[t.course.skill_index[s] for s in query.skills_of(r) if s in t.course.skill_index]])[0]
        return out
