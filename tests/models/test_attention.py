from __future__ import annotations

import numpy as np
import pytest
import torch

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.models.attention import AttentionKT, AttentionOnlineState, bank_plan, lagrange_weights, windows
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


@pytest.mark.parametrize(("encoder_layers", "average_decay"), [(0, None), (1, None), (0, 0.99)])
def test_online_state_matches_batch_predictions(simulated: Responses, encoder_layers: int,
                                                average_decay: float | None) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = AttentionKT(max_epochs=2, embed=16, heads=2, encoder_layers=encoder_layers,
                        average_decay=average_decay).fit(split.train, split.valid)
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
            assert state.predict(exact=True)[items[t]] == pytest.approx(batch[t], abs=1e-5)
        state.update(int(items[t]), skills[t], int(learner.correct[t]))
    again = AttentionOnlineState.from_arrays(model, state.to_arrays())
    assert np.allclose(again.predict(), state.predict())
    assert np.allclose(again.predict(exact=True), state.predict(exact=True), atol=1e-6)


def test_bank_plan_interpolates_the_exact_bank_scores(simulated: Responses) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = AttentionKT(max_epochs=2, embed=16, heads=2).fit(split.train, split.valid)
    with torch.no_grad():  # widen the offsets so that every skill set needs interpolating
        mu = model.net_.difficulty.weight
        mu[:-1] = torch.linspace(-1.0, 1.0, len(mu) - 1)[torch.randperm(len(mu) - 1)][:, None]
    learner = split.test.select_learners(split.test.learners_present()[:1])
    items = model.vocab_.items(learner)
    skills = encode(learner, model.vocab_, max_skills=model.max_skills_).skill
    plans = {spacing: bank_plan(model.net_, model.item_skills_, nodes=1, spacing=spacing) for spacing in (2.0, 1.0, 0.25)}
    errors = dict.fromkeys(plans, 0.0)
    states = {spacing: AttentionOnlineState(model, plan) for spacing, plan in plans.items()}
    for t in range(min(len(learner), 30)):
        for spacing, state in states.items():
            errors[spacing] = max(errors[spacing], float(np.abs(state.predict() - state.predict(exact=True)).max()))
            state.update(int(items[t]), skills[t], int(learner.correct[t]))
    assert plans[0.25].x.shape[0] < model.vocab_.n_items  # fewer questions than items
    assert errors[0.25] < 1e-3 and errors[0.25] < errors[1.0] < errors[2.0]
    state = model.online()  # the default plan: nodes at most 0.1 apart
    for t in range(10):
        assert np.abs(state.predict() - state.predict(exact=True)).max() < 1e-4
        state.update(int(items[t]), skills[t], int(learner.correct[t]))


def test_lagrange_weights_reproduce_polynomials() -> None:
    nodes = np.array([-1.0, 0.2, 0.5, 2.0])
    at = np.linspace(-1, 2, 7)
    w = lagrange_weights(at, nodes)
    for f in (np.ones_like, lambda z: z, lambda z: 3 * z**3 - z):
        assert np.allclose(w @ f(nodes), f(at))


def test_cached_projections_follow_the_window(simulated: Responses) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = AttentionKT(max_epochs=1, embed=16, heads=2, window=8).fit(split.train, split.valid)
    learner = split.test.select_learners(split.test.learners_present()[:1])
    items = model.vocab_.items(learner)
    skills = encode(learner, model.vocab_, max_skills=model.max_skills_).skill
    state = model.online()
    state.predict()  # projections cached from here on, then updated response by response
    for t in range(20):
        state.update(int(items[t]), skills[t], int(learner.correct[t]))
    rebuilt = AttentionOnlineState.from_arrays(model, state.to_arrays())  # projections computed afresh
    assert len(state.keys) == 7 and state.count == 20
    assert np.allclose(state.predict(items[20:30]), rebuilt.predict(items[20:30]), atol=1e-6)


def test_the_cached_window_keeps_the_null_slot_and_the_last_steps() -> None:
    from metatutor.models.attention_serving import _Window

    rows = torch.randn(2, 4, 3)  # the null slot and three steps
    window, kept = _Window(rows, limit=3), rows
    for _ in range(20):  # past the buffer's end, more than once
        row = torch.randn(2, 1, 3)
        window.append(row)
        kept = torch.cat([kept[:, :1], torch.cat([kept[:, 1:], row], 1)[:, -3:]], 1)
        assert torch.equal(window.view(), kept)
