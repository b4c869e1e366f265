from __future__ import annotations

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.errors import ConfigError
from metatutor.models import BKT, make_model, model_from_bytes
from metatutor.models.serving import WHOLE_BANK_FROM, ServedModel

SMALL = {"max_epochs": 1, "embed": 16, "hidden": 16}


@pytest.fixture(scope="module")
def split(simulated: Responses):  # type: ignore[no-untyped-def]
    return kfold_splits(simulated, k=4, random_state=0)[0]


@pytest.mark.parametrize("name", ["irt", "dkt", "attn", "pairs", "ensemble", "ensemble-pairs"])
def test_a_served_model_predicts_each_answer_as_the_batch_model_does(split, name: str) -> None:  # type: ignore[no-untyped-def]
    model = make_model(name, **SMALL).fit(split.train, split.valid)
    served = ServedModel(model_from_bytes(model.to_bytes()))  # through the database's form
    frame = split.test.select_learners(split.test.learners_present()[:1]).to_frame()
    frame.loc[frame.index[2::5], "item"] = [f"new-{j}" for j in range(len(frame.index[2::5]))]  # unseen items
    learner = Responses.from_frame(frame, merge_multiskill=False)
    batch = model.predict_proba(learner)
    names = [str(i) for i in learner.item_ids[learner.item]]
    skills = {names[t]: learner.skills_of(t) for t in range(len(learner))}
    state = served.new_state()
    for t in range(len(learner)):
        assert served.predict(state, [names[t]], skills.__getitem__)[0] == pytest.approx(batch[t], abs=1e-5)
        blob = served.state_to_bytes(state)  # each step stored and read back, as a service does
        state = served.state_from_bytes(blob)
        served.step(state, names[t], learner.skills_of(t), bool(learner.correct[t]))
    assert state.count == len(learner)


def test_many_items_are_scored_through_the_whole_bank_as_one_by_one(split) -> None:  # type: ignore[no-untyped-def]
    served = ServedModel(make_model("attn", **SMALL).fit(split.train, split.valid))
    state = served.new_state()
    for t in range(5):
        served.step(state, str(split.test.item_ids[split.test.item[t]]), split.test.skills_of(t), 1)
    names = [str(i) for i in served.vocab.item_ids[:WHOLE_BANK_FROM]] + ["never-seen"]
    together = served.predict(state, names)
    alone = np.array([served.predict(state, [n])[0] for n in names])
    np.testing.assert_allclose(together, alone, atol=2e-3)  # the bank plan's interpolation error at most
    assert together[-1] == pytest.approx(served.predict(state, ["another-unseen-item"])[0])


def test_unseen_items_and_skills_are_stepped_not_refused(split) -> None:  # type: ignore[no-untyped-def]
    served = ServedModel(make_model("dkt", **SMALL).fit(split.train, split.valid))
    state = served.new_state()
    before = served.predict(state, ["new-item"])[0]
    served.step(state, "new-item", ["new-skill"], True)
    served.step(state, "new-item", [], True)
    assert state.count == 2 and served.predict(state, ["new-item"])[0] != before


def test_models_without_an_online_state_and_foreign_bytes_are_refused(split) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="no online state"):
        ServedModel(BKT().fit(split.train))
    with pytest.raises(ConfigError, match="no online state"):
        ServedModel(make_model("ensemble", members=("irt", "pfa")).fit(split.train, split.valid))
    with pytest.raises(ConfigError, match="not a saved metatutor model"):
        model_from_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ConfigError, match="not a saved metatutor model"):
        model_from_bytes(b"junk")
    served = ServedModel(make_model("irt").fit(split.train))
    with pytest.raises(ConfigError, match="stored learner state"):
        served.state_from_bytes(b"junk")
