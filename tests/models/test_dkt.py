from __future__ import annotations

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.models.dkt import DKT, DKTOnlineState
from metatutor.models.sequences import encode


def test_online_state_matches_batch_predictions(simulated: Responses) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = DKT(max_epochs=2, embed=16, hidden=24).fit(split.train, split.valid)
    learners = split.test.select_learners(split.test.learners_present()[:3])
    batch = model.predict_proba(learners)
    items = model.vocab_.items(learners)
    skills = encode(learners, model.vocab_, max_skills=model.max_skills_).skill
    for j in range(learners.n_learners):
        state = model.online()
        for t in range(learners.starts[j], learners.starts[j + 1]):
            bank = state.predict()
            assert bank.shape == (model.vocab_.n_items,) and np.all((bank > 0) & (bank < 1))
            assert state.predict(items[t : t + 1])[0] == pytest.approx(batch[t], abs=1e-5)
            if items[t] < model.vocab_.n_items:  # the bank path scores known items with their first skills
                assert bank[items[t]] == pytest.approx(state.predict(items[t : t + 1])[0], abs=1e-5)
            state.update(int(items[t]), skills[t], int(learners.correct[t]))
        assert state.count == learners.starts[j + 1] - learners.starts[j]
    again = DKTOnlineState.from_arrays(model, state.to_arrays())
    assert again.count == state.count
    np.testing.assert_allclose(again.predict(), state.predict())


def test_online_state_scores_unknown_items_through_the_unknown_skill(simulated: Responses) -> None:
    model = DKT(max_epochs=1, embed=8, hidden=8).fit(simulated)
    state = model.online()
    p = state.predict(np.array([model.vocab_.n_items, 0]))  # an unseen item code, then a known one
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))
    state.update(0, model.item_skills_[0], 1)
    assert state.predict(np.array([0]))[0] != pytest.approx(p[1], abs=1e-9)  # the answer moved the state


def test_saved_model_keeps_the_item_skills_for_serving(simulated: Responses, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = DKT(max_epochs=1, embed=8, hidden=8).fit(simulated)
    loaded = DKT.load(model.save(tmp_path / "dkt"))
    np.testing.assert_array_equal(loaded.item_skills_, model.item_skills_)
    np.testing.assert_allclose(loaded.online().predict(), model.online().predict(), rtol=1e-6)
