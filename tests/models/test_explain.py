"""Explanations: Shapley values by hand, the additive model's exact terms, efficiency, and the labels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models import make_model
from metatutor.models.explain import explain_prediction, shapley_values, subset_masks


def test_shapley_values_match_the_definition() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=2**4)  # an arbitrary game on 4 players, by subset code

    def value(masks: np.ndarray) -> np.ndarray:
        return table[(masks * (1 << np.arange(masks.shape[1]))).sum(1)]

    phi = shapley_values(4, value)
    code = {frozenset(j for j in range(4) if m >> j & 1): m for m in range(16)}
    for j in range(4):
        others = [i for i in range(4) if i != j]
        expected = sum(math.factorial(len(s)) * math.factorial(3 - len(s)) / math.factorial(4)
                       * (table[code[frozenset(s) | {j}]] - table[code[frozenset(s)]])
                       for r in range(4) for s in itertools.combinations(others, r))
        assert phi[j] == pytest.approx(expected)
    assert phi.sum() == pytest.approx(table[15] - table[0])  # efficiency
    assert subset_masks(2).tolist() == [[False, False], [True, False], [False, True], [True, True]]


@pytest.fixture(scope="module")
def history(simulated: Responses) -> Responses:
    learner = simulated.learners_present()[0]
    return simulated.select_learners([learner]).first_k(6)


def test_the_additive_model_is_explained_exactly(simulated: Responses, history: Responses) -> None:
    model = make_model("pfa").fit(simulated)
    item = str(history.item_ids[history.item[0]])
    additive = explain_prediction(model, history, item)
    shapley = explain_prediction(model, history, item, method="shapley")
    assert additive.method == "additive" and additive.exact and shapley.method == "shapley"
    by_pos = {a.position: a.contribution for a in shapley.attributions}
    for a in additive.attributions:  # for an additive logit, leave-one-out is the Shapley value
        assert a.contribution == pytest.approx(by_pos[a.position], abs=1e-6)


@pytest.mark.parametrize("name", ["irt", "dkt"])
def test_shapley_attributions_add_up_and_are_labelled(simulated: Responses, history: Responses, name: str) -> None:
    settings = {"max_epochs": 1} if name == "dkt" else {}
    model = make_model(name, **settings).fit(simulated)
    item = str(history.item_ids[history.item[-1]])
    why = explain_prediction(model, history, item)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert why.method == "shapley" and len(why.attributions) == len(history)
    assert sum(a.contribution for a in why.attributions) == pytest.approx(logit(why.probability) - logit(why.baseline),
                                                                            abs=1e-4)
    assert abs(why.attributions[0].contribution) >= abs(why.attributions[-1].contribution)  # largest first
    windowed = explain_prediction(model, history, item, window=3)
    assert windowed.method == "shapley-window" and {a.position for a in windowed.attributions} == {3, 4, 5}
    loo = explain_prediction(model, history, item, method="leave-one-out")
    assert loo.method == "leave-one-out" and not loo.exact and "not a Shapley value" in loo.note
    with pytest.raises(ConfigError):
        explain_prediction(model, history, item, method="lime")
