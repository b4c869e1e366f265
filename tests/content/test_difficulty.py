from __future__ import annotations

import numpy as np
import pytest

from metatutor.content.course import course_items
from metatutor.content.difficulty import DifficultyModel
from metatutor.content.simulate import Classmates
from metatutor.errors import NotFittedError

HELD_OUT = ("frac-sub-unlike", "eq-both-sides-bracket", "pct-change", "int-sub", "eval-square")


@pytest.mark.slow
def test_features_predict_the_difficulty_of_unseen_templates() -> None:
    """Fitted on some templates, the feature model ranks the items of unseen templates by their true
    difficulty (the simulator's, which the model never sees)."""
    items = course_items(20, seed=2)
    index = {i.id: i for i in items}
    sim = Classmates(items, random_state=2)
    log = sim.simulate(250, per_skill=6)
    template = np.array([index[str(i)].template for i in log.responses.item_ids[log.responses.item]])
    model = DifficultyModel().fit(log.responses.select_rows(~np.isin(template, HELD_OUT)), index)
    unseen = [i for i in items if i.template in HELD_OUT]
    predicted, true = model.predict_b(unseen), np.array([sim.difficulty_[i.id] for i in unseen])
    assert np.corrcoef(predicted, true)[0, 1] > 0.3
    flat = DifficultyModel(features=()).fit(log.responses.select_rows(~np.isin(template, HELD_OUT)), index)
    within = [np.var(flat.predict_b([i for i in unseen if i.template == t])) for t in HELD_OUT]
    assert max(within) < 1e-12  # skill-only: every item of a skill is equally hard


def test_new_learners_get_their_own_ability() -> None:
    items = course_items(6, seed=0)
    index = {i.id: i for i in items}
    log = Classmates(items, random_state=0).simulate(40, per_skill=3)
    learners = log.responses.learner_ids
    train, new = log.responses.select_learners(learners[:30]), log.responses.select_learners(learners[30:])
    model = DifficultyModel().fit(train, index)
    cold = model.predict_proba(new, index)
    model.fit_learners(new, index)
    warm = model.predict_proba(new, index)
    assert not np.allclose(cold, warm) and np.all((warm > 0) & (warm < 1))
    with pytest.raises(NotFittedError):
        DifficultyModel().predict_b(items)
