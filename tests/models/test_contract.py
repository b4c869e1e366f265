"""One contract, every learner model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.errors import ConfigError, NotFittedError
from metatutor.evaluation.metrics import score
from metatutor.models import REGISTRY, load_model, make_model

FAST = {"max_epochs": 10, "hidden": 32, "embed": 16, "lr": 5e-3}
NAMES = list(REGISTRY)


@pytest.fixture(scope="module")
def split(simulated: Responses):
    return kfold_splits(simulated, k=4, random_state=0)[0]


@pytest.fixture(scope="module")
def fitted(split):
    return {name: make_model(name, random_state=0, **FAST).fit(split.train, split.valid) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_predicts_unseen_learners_better_than_chance(name: str, split, fitted) -> None:
    p = fitted[name].predict_proba(split.test)
    assert p.shape == (len(split.test),) and np.all((p > 0) & (p < 1))
    assert score(split.test.correct, p)["auc"] > 0.62


@pytest.mark.parametrize("name", NAMES)
def test_prediction_uses_only_earlier_responses(name: str, split, fitted) -> None:
    """Flipping answers at and after position t of a learner must not change predictions up to t."""
    model = fitted[name]
    learner = split.test.learners_present()[0]
    one = split.test.select_learners([learner])
    t = len(one) // 2
    flipped_correct = one.correct.copy()
    flipped_correct[t:] = 1 - flipped_correct[t:]
    flipped = Responses(learner=one.learner, item=one.item, correct=flipped_correct, skill_ptr=one.skill_ptr,
                        skill=one.skill, timestamp=one.timestamp, learner_ids=one.learner_ids,
                        item_ids=one.item_ids, skill_ids=one.skill_ids)
    a, b = model.predict_proba(one), model.predict_proba(flipped)
    np.testing.assert_allclose(a[: t + 1], b[: t + 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[t + 1 :], b[t + 1 :])  # later predictions do react to the answers


@pytest.mark.parametrize("name", NAMES)
def test_learners_are_independent(name: str, split, fitted) -> None:
    model = fitted[name]
    ids = split.test.learners_present()[:3]
    together = model.predict_proba(split.test.select_learners(ids))
    alone = np.concatenate([model.predict_proba(split.test.select_learners([i])) for i in ids])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_mastery_table(name: str, split, fitted) -> None:
    m = fitted[name].mastery(split.test)
    assert m.shape == (split.test.n_learners, fitted[name].vocab_.n_skills)
    assert m.notna().all().all() and ((m.values > 0) & (m.values < 1)).all()


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name: str, split, fitted, tmp_path: Path) -> None:
    model = fitted[name]
    folder = model.save(tmp_path / name)
    assert not list(folder.glob("*.pkl")) and (folder / "arrays.safetensors").exists()
    again = load_model(str(folder))
    np.testing.assert_allclose(again.predict_proba(split.test), model.predict_proba(split.test), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_unseen_items_and_skills(name: str, split, fitted) -> None:
    one = split.test.select_learners(split.test.learners_present()[:1])
    renamed = Responses(learner=one.learner, item=one.item, correct=one.correct, skill_ptr=one.skill_ptr,
                        skill=one.skill, timestamp=one.timestamp, learner_ids=one.learner_ids,
                        item_ids=np.array([f"new-{x}" for x in one.item_ids], dtype=object),
                        skill_ids=np.array([f"new-{x}" for x in one.skill_ids], dtype=object))
    p = fitted[name].predict_proba(renamed)
    assert np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_model_says_so(name: str, split) -> None:
    with pytest.raises(NotFittedError):
        make_model(name).predict_proba(split.test)


def test_default_and_unknown_names() -> None:
    default = make_model("default")  # the best sequence-only model; default-classmates adds the pairs
    assert type(default).__name__ == "EnsembleKT" and default.config.members == ("attn", "dkt", "irt")
    assert make_model("default-classmates").config.members == ("attn", "dkt", "irt", "pairs")
    with pytest.raises(ConfigError, match="unknown model"):
        make_model("nope")


def test_dkt_readout_padding_row_stays_zero(fitted) -> None:
    """DKT's per-skill read-out sums the rows of a question's skills, padding included: its padding row
    must stay zero through training for that sum to be the skills' own."""
    head = fitted["dkt"].net_.out
    weight = head.readout.weight.detach()
    assert float(weight[head.pad].abs().max()) == 0.0
    assert float(weight[: head.pad].abs().max()) > 0.0
