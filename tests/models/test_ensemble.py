from __future__ import annotations

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.errors import ConfigError
from metatutor.models import make_model
from metatutor.models.ensemble import EnsembleKT


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def test_ensemble_averages_its_members_logits(simulated: Responses) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    model = EnsembleKT(members=("irt", "pfa")).fit(split.train, split.valid)
    alone = [make_model(name, random_state=0).fit(split.train, split.valid) for name in ("irt", "pfa")]
    p = model.predict_proba(split.test)
    expected = 1 / (1 + np.exp(-np.mean([logit(m.predict_proba(split.test)) for m in alone], axis=0)))
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    # the mean logit lies between the members' own predictions
    members = np.stack([m.predict_proba(split.test) for m in alone])
    assert np.all((p >= members.min(0) - 1e-9) & (p <= members.max(0) + 1e-9))


def test_ensemble_hands_unknown_settings_to_its_members() -> None:
    model = make_model("ensemble", random_state=3, max_epochs=2, hidden=8)
    assert model.config.members == ("attn", "dkt") and model.config.random_state == 3
    members = model._new_members()  # type: ignore[attr-defined]
    assert [m.config.max_epochs for m in members] == [2, 2]
    assert [m.config.random_state for m in members] == [3, 3]


def test_ensemble_refuses_no_members_or_itself() -> None:
    with pytest.raises(ConfigError, match="member"):
        EnsembleKT(members=())
    with pytest.raises(ConfigError, match="member"):
        EnsembleKT(members=("ensemble",))
