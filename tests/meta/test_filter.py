from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.errors import ConfigError
from metatutor.meta import MetaFilter, Population, cold_start_episodes
from metatutor.meta.episodes import hide_answers
from metatutor.meta.filtering import filter_step, logit_and_spread, right_aligned


@pytest.fixture(scope="module")
def fitted() -> tuple[MetaFilter, Responses]:
    logs = Simulator(random_state=5).simulate(260, (8, 60))  # some learners shorter than 10 answers
    ids = logs.learners_present()
    train, valid, test = (logs.select_learners(ids[:180]), logs.select_learners(ids[180:220]),
                          logs.select_learners(ids[220:]))
    population = Population(train, valid, dkt_settings={"max_epochs": 2, "hidden": 16, "embed": 8})
    method = MetaFilter(meta_steps=30, eval_every=15, early_buckets=(1, 5, 20))
    return method.fit(train, valid, population), test


def test_one_step_is_the_laplace_update_of_the_bias_and_skill_blocks() -> None:
    """With the DKT head's part fixed, one answer moves μ and σ² as Sherman-Morrison says."""

    class Head:  # z = h[0]: a stand-in head with no learner block of its own
        pad = 5

        def __call__(self, h: torch.Tensor, q: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
            return h[..., 0]

    mu = {"bias": torch.tensor([[0.2]]), "skill": torch.tensor([[0.1, -0.3, 0.0, 0.0, 0.0, 0.0]])}
    var = {"bias": torch.tensor([[0.5]]), "skill": torch.tensor([[0.4, 0.2, 0.1, 0.1, 0.1, 0.1]])}
    f = {"h": torch.tensor([[[0.3, 0.0]]]), "q": torch.zeros(1, 1, 1), "beta": torch.tensor([[-0.1]]),
         "skill": torch.tensor([[[0, 1]]]), "y": torch.tensor([[1.0]]), "mask": torch.tensor([[1.0]])}
    drift = {"bias": torch.tensor(0.01), "skill": torch.tensor(0.0)}
    new_mu, new_var, pred = filter_step(Head(), mu, var, f, drift, pad=5)
    z = 0.3 - 0.1 + 0.2 + (0.1 - 0.3) / 2
    s = 0.5 + (0.4 + 0.2) / 4
    p = 1 / (1 + math.exp(-z))
    v, denom = p * (1 - p), 1 + p * (1 - p) * s
    assert float(pred[0]) == pytest.approx(z / math.sqrt(1 + math.pi * s / 8), rel=1e-5)
    assert float(new_mu["bias"][0, 0]) == pytest.approx(0.2 + 0.5 * (1 - p) / denom, rel=1e-5)
    assert float(new_mu["skill"][0, 1]) == pytest.approx(-0.3 + 0.2 * 0.5 * (1 - p) / denom, rel=1e-5)
    assert float(new_var["bias"][0, 0]) == pytest.approx(0.5 - v * 0.25 / denom + 0.01, rel=1e-5)
    assert float(new_var["skill"][0, 0]) == pytest.approx(0.4 - v * 0.04 / denom, rel=1e-5)
    assert float(new_mu["skill"][0, 2]) == 0.0 and float(new_var["skill"][0, 2]) == pytest.approx(0.1)  # not its skill
    z2, _, _ = logit_and_spread(Head(), new_mu, new_var, f, 5)
    assert float(z2[0, 0]) > z  # a right answer raises the next prediction


def test_right_alignment_moves_padding_after_each_learners_answers() -> None:
    batch = {"s_item": torch.tensor([[9, 9, 1, 2], [3, 4, 5, 6]]), "s_skill": torch.zeros(2, 4, 1, dtype=torch.long),
             "s_y": torch.tensor([[0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]]),
             "s_mask": torch.tensor([[False, False, True, True], [True, True, True, True]])}
    out = right_aligned(batch)
    assert out["s_item"][0, :2].tolist() == [1, 2] and out["s_y"][0, :2].tolist() == [1.0, 0.0]
    assert out["s_mask"][0].tolist() == [True, True, False, False] and out["s_item"][1].tolist() == [3, 4, 5, 6]


def test_online_predictions_in_one_pass_equal_one_prefix_at_a_time(fitted: tuple[MetaFilter, Responses]) -> None:
    method, test = fitted
    first = test.first_k(10)
    assert (first.lengths < 10).any()  # learners of fewer answers are padded in the batch
    one_pass = method.online_predictions(first)
    order = first.order
    for t in range(10):
        at = order == t
        if not at.any():
            continue
        prefix = first.select_rows(np.repeat(first.lengths > t, first.lengths) & (order < t))
        query = hide_answers(first.select_rows(at))
        np.testing.assert_allclose(one_pass[at], method.predict_query(prefix, query), atol=1e-6)


def test_the_query_answers_are_never_read_and_the_support_personalises(fitted: tuple[MetaFilter, Responses]) -> None:
    method, test = fitted
    ep = cold_start_episodes(test, 5)
    shown = dataclasses.replace(ep.query, correct=ep.answers)
    np.testing.assert_array_equal(method.predict_query(ep.support, ep.query), method.predict_query(ep.support, shown))
    right = dataclasses.replace(ep.support, correct=np.ones(len(ep.support), dtype=np.int8))
    wrong = dataclasses.replace(ep.support, correct=np.zeros(len(ep.support), dtype=np.int8))
    assert (method.predict_query(right, ep.query) > method.predict_query(wrong, ep.query)).mean() > 0.95
    adapted = method.adapt(right)
    assert all((v < method.prior(1)[1][k][0]).all() for k, v in adapted.var.items() if k == "bias")  # evidence narrows


def test_unknown_blocks_are_refused() -> None:
    with pytest.raises(ConfigError, match="blocks"):
        MetaFilter(blocks=("bias", "mood"))
    with pytest.raises(ConfigError, match="no setting"):
        MetaFilter(steps=2)
