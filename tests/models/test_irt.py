from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.models.irt import GRID, IRT, IRTOnlineState, online_ability_posterior


def test_online_posterior_excludes_current_and_other_learners() -> None:
    correct = np.array([1, 1, 0, 0])
    b = np.zeros(4)
    a = np.ones(4)
    seg = np.array([0, 0, 1, 1])
    lp = online_ability_posterior(correct, b, a, seg, prior_sd=1.0)
    prior = -0.5 * GRID**2
    np.testing.assert_allclose(lp[0], prior, atol=1e-9)  # nothing seen yet
    np.testing.assert_allclose(lp[2], prior, atol=1e-9)  # a new learner starts from the prior again
    assert GRID[np.argmax(lp[1])] > 0  # after one correct answer ability moves up


def test_calibration_recovers_difficulty_order() -> None:
    rng = np.random.default_rng(1)
    b_true = np.linspace(-2, 2, 8)
    rows = []
    for learner in range(500):
        theta = rng.normal()
        for i, b in enumerate(b_true):
            rows.append((learner, f"i{i}", int(rng.random() < 1 / (1 + np.exp(-(theta - b))))))
    data = Responses.from_frame(pd.DataFrame(rows, columns=["learner", "item", "correct"]))
    model = IRT().fit(data)
    order = [int(x[1:]) for x in model.vocab_.item_ids]
    b_hat = model.difficulty_[np.argsort(order)]
    assert np.corrcoef(b_hat, b_true)[0, 1] > 0.98
    assert model.prior_sd_ == pytest.approx(1.0, abs=0.35)
    two = IRT(kind="2pl").fit(data)
    assert np.all(two.discrimination_ > 0.5) and np.all(two.discrimination_ < 2.0)


@pytest.mark.parametrize("kind", ["1pl", "2pl"])
def test_online_state_matches_batch_predictions(simulated: Responses, kind: str) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = IRT(kind=kind).fit(split.train)
    learners = split.test.select_learners(split.test.learners_present()[:3])
    batch = model.predict_proba(learners)
    items = model.vocab_.items(learners)
    for j in range(learners.n_learners):
        state = model.online()
        for t in range(learners.starts[j], learners.starts[j + 1]):
            if items[t] < model.vocab_.n_items:
                assert state.predict()[items[t]] == pytest.approx(batch[t], abs=1e-6)  # the bank in float32
                assert state.predict(items[t : t + 1])[0] == pytest.approx(batch[t], abs=1e-9)
            state.update(int(items[t]), None, int(learners.correct[t]))
    again = IRTOnlineState.from_arrays(model, state.to_arrays())
    assert again.count == state.count
    np.testing.assert_allclose(again.predict(), state.predict())
    np.testing.assert_allclose(1 / (1 + np.exp(-state.predict_logit())), state.predict(), atol=1e-6)
    # an unseen item is scored with its skills' mean difficulty; a correct answer raises the ability
    before = state.predict(np.array([model.vocab_.n_items]))[0]
    state.update(model.vocab_.n_items, np.array([0]), 1)
    assert state.predict(np.array([model.vocab_.n_items]))[0] > before
