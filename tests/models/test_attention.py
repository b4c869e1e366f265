from __future__ import annotations

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.models.attention import AttentionKT, OnlineState, windows
from metatutor.models.sequences import encode


@pytest.mark.parametrize("window", [4, 5, 200])
def test_windows_score_every_position_once_with_half_a_window_of_context(window: int) -> None:
    lengths = np.array([1, 3, 4, 9, 17, 450])
    wins = windows(lengths, window)
    for learner, n in enumerate(lengths):
        scored: list[int] = []
        for _, start, end, score_from in wins[wins[:, 0] == learner]:
            assert end - start <= window and end <= n
            positions = list(range(start + score_from, end))
            assert start == 0 or score_from >= window // 2  # scored with at least half a window behind
            scored += positions
        assert sorted(scored) == list(range(n))


@pytest.mark.parametrize("encoder_layers", [0, 1])
def test_online_state_matches_batch_predictions(simulated: Responses, encoder_layers: int) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = AttentionKT(max_epochs=2, embed=16, heads=2, encoder_layers=encoder_layers).fit(split.train, split.valid)
    learner = split.test.select_learners(split.test.learners_present()[:1])
    batch = model.predict_proba(learner)
    items = model.vocab_.items(learner)
    skills = encode(learner, model.vocab_, max_skills=model.max_skills_).skill
    state = model.online()
    bank = state.predict()
    assert bank.shape == (model.vocab_.n_items,) and np.all((bank > 0) & (bank < 1))
    for t in range(len(learner)):
        assert state.predict(items[t : t + 1])[0] == pytest.approx(batch[t], abs=1e-5)
        if items[t] < model.vocab_.n_items:
            assert state.predict()[items[t]] == pytest.approx(batch[t], abs=1e-5)
        state.update(int(items[t]), skills[t], int(learner.correct[t]))
    again = OnlineState.from_arrays(model, state.to_arrays())
    assert np.allclose(again.predict(), state.predict())
