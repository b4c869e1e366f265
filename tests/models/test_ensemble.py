from __future__ import annotations

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.errors import ConfigError
from metatutor.models import make_model
from metatutor.models.ensemble import EnsembleKT, EnsembleOnlineState
from metatutor.models.sequences import encode


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def test_ensemble_averages_its_members_logits(simulated: Responses) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = EnsembleKT(members=("irt", "pfa"), weights="equal").fit(split.train, split.valid)
    alone = [make_model(name, random_state=0).fit(split.train, split.valid) for name in ("irt", "pfa")]
    p = model.predict_proba(split.test)
    expected = 1 / (1 + np.exp(-np.mean([logit(m.predict_proba(split.test)) for m in alone], axis=0)))
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    # the mean logit lies between the members' own predictions
    members = np.stack([m.predict_proba(split.test) for m in alone])
    assert np.all((p >= members.min(0) - 1e-9) & (p <= members.max(0) + 1e-9))


def test_stacked_weights_fit_the_validation_learners(simulated: Responses, tmp_path) -> None:  # type: ignore[no-untyped-def]
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    equal = EnsembleKT(members=("irt", "pfa"), weights="equal").fit(split.train, split.valid)
    stacked = EnsembleKT(members=("irt", "pfa")).fit(split.train, split.valid)
    assert not np.allclose(stacked.weights_, equal.weights_)

    def log_loss(p: np.ndarray, y: np.ndarray) -> float:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))

    y = split.valid.correct
    assert log_loss(stacked.predict_proba(split.valid), y) < log_loss(equal.predict_proba(split.valid), y)
    members = [m.predict_proba(split.test) for m in stacked.members_]
    expected = 1 / (1 + np.exp(-(np.stack([logit(p) for p in members], 1) @ stacked.weights_ + stacked.intercept_)))
    np.testing.assert_allclose(stacked.predict_proba(split.test), expected, rtol=1e-6)
    loaded = EnsembleKT.load(stacked.save(tmp_path / "stacked"))
    np.testing.assert_allclose(loaded.weights_, stacked.weights_)
    np.testing.assert_allclose(loaded.predict_proba(split.test), stacked.predict_proba(split.test), rtol=1e-6)
    with pytest.raises(ConfigError, match="weights"):
        EnsembleKT(weights="median")


def test_ensemble_hands_unknown_settings_to_its_members() -> None:
    model = make_model("ensemble", random_state=3, max_epochs=2, hidden=8, members=("attn", "dkt", "dkt"))
    assert model.config.random_state == 3
    members = model._new_members()  # type: ignore[attr-defined]
    assert [m.config.max_epochs for m in members] == [2, 2, 2]
    assert [m.config.random_state for m in members] == [3, 4, 5]  # a repeated member gets its own seed
    assert make_model("ensemble").config.members == ("attn", "dkt", "irt")


def test_ensemble_refuses_no_members_or_itself() -> None:
    with pytest.raises(ConfigError, match="member"):
        EnsembleKT(members=())
    with pytest.raises(ConfigError, match="member"):
        EnsembleKT(members=("ensemble",))


def test_ensemble_online_state_matches_batch_predictions(simulated: Responses, tmp_path) -> None:  # type: ignore[no-untyped-def]
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = EnsembleKT(settings={"max_epochs": 1, "embed": 16}).fit(split.train, split.valid)
    learner = split.test.select_learners(split.test.learners_present()[:1])
    batch = model.predict_proba(learner)
    items = model.vocab_.items(learner)
    skills = encode(learner, model.vocab_, max_skills=model.item_skills_.shape[1]).skill
    state = model.online()
    for t in range(len(learner)):
        assert state.predict(items[t : t + 1])[0] == pytest.approx(batch[t], abs=1e-5)
        state.update(int(items[t]), skills[t], int(learner.correct[t]))
    assert state.count == len(learner) and state.predict().shape == (model.vocab_.n_items,)
    members = model.combine([s.predict() for s in state.states])  # the whole bank, member by member
    np.testing.assert_allclose(state.predict(), members, atol=1e-5)
    loaded = EnsembleKT.load(model.save(tmp_path / "ens"))
    again = EnsembleOnlineState.from_arrays(loaded, state.to_arrays())
    np.testing.assert_allclose(again.predict(items[:5]), state.predict(items[:5]), rtol=1e-5)


def test_ensemble_online_state_needs_every_member_to_have_one(simulated: Responses) -> None:
    model = EnsembleKT(members=("irt", "pfa")).fit(simulated)
    with pytest.raises(ConfigError, match="online state"):
        model.online()
