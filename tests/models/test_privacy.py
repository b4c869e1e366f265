"""DP-SGD: the loop LSTM is the fused one, per-learner gradients are each learner's own, the noise is
calibrated to the budget and the accountant's ε stays within it; the models it cannot train are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.data.splits import holdout_split
from metatutor.errors import ConfigError
from metatutor.evaluation.metrics import score
from metatutor.models import make_model
from metatutor.models.attention import window_batch
from metatutor.models.base import Vocabulary
from metatutor.models.privacy import (
    LoopLSTM,
    PrivacyConfig,
    calibrate_noise,
    epsilon_of,
    fit_private,
    learner_windows,
    per_learner_grads,
)
from metatutor.models.sequences import encode


def test_loop_lstm_matches_the_fused_lstm_forward_and_backward() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 10, batch_first=True)
    x = torch.randn(3, 9, 6, requires_grad=True)
    h0, c0 = torch.randn(1, 3, 10), torch.randn(1, 3, 10)
    out, (h, c) = lstm(x, (h0, c0))
    (out.pow(2).sum() + h.sum() + c.sum()).backward()
    reference = {n: p.grad.clone() for n, p in lstm.named_parameters()}
    dx = x.grad.clone()
    lstm.zero_grad()
    x.grad = None
    loop = LoopLSTM(lstm)
    out2, (h2, c2) = loop(x, (h0, c0))
    (out2.pow(2).sum() + h2.sum() + c2.sum()).backward()
    assert torch.allclose(out, out2, atol=1e-6) and torch.allclose(h, h2, atol=1e-6) and torch.allclose(c, c2, atol=1e-6)
    assert torch.allclose(x.grad, dx, atol=1e-5)
    for name, p in lstm.named_parameters():
        assert torch.allclose(p.grad, reference[name], atol=1e-5), name
    assert set(dict(loop.named_parameters())) == set(dict(lstm.named_parameters()))  # same names: same state dict


@pytest.mark.parametrize("name", ["dkt", "attn"])
def test_per_learner_gradients_are_each_learners_own(name: str) -> None:
    r = Simulator(random_state=0).simulate(6, (8, 15))
    model = make_model(name, dropout=0.0)
    model.vocab_, model.max_skills_ = Vocabulary.of(r), 2
    net = model._build()
    if name == "dkt":
        net.lstm = LoopLSTM(net.lstm)
    enc = encode(r, model.vocab_, max_skills=2)
    rows = learner_windows(enc.lengths, np.arange(4), 200, np.random.default_rng(0))
    names = [n for n, _ in net.named_parameters()]

    def loss_of(out: object, one: dict[str, torch.Tensor]) -> torch.Tensor:
        logit = out[0] if isinstance(out, tuple) else out
        return (nn.functional.binary_cross_entropy_with_logits(logit, one["y"], reduction="none") * one["mask"]).sum()

    grads = per_learner_grads(net, names, window_batch(enc, rows, **model._pads), loss_of)
    for j in range(4):  # learner j alone, by ordinary autograd
        net.zero_grad()
        one = window_batch(enc, rows[j : j + 1], **model._pads)
        loss_of(net(one), one).backward()
        for n, p in net.named_parameters():
            expected = p.grad if p.grad is not None else torch.zeros_like(p)
            assert torch.allclose(grads[n][j], expected, atol=1e-5), (n, j)


@pytest.mark.slow
def test_noise_is_calibrated_to_the_budget() -> None:
    sigma = calibrate_noise(3.0, 1e-4, 0.1, 100)
    assert epsilon_of(sigma, 0.1, 100, 1e-4) == pytest.approx(3.0, abs=0.02)
    assert calibrate_noise(1.0, 1e-4, 0.1, 100) > sigma > calibrate_noise(8.0, 1e-4, 0.1, 100)
    with pytest.raises(ConfigError):
        calibrate_noise(0.0, 1e-4, 0.1, 100)


@pytest.fixture(scope="module")
def cohort() -> tuple[Responses, Responses]:
    train, valid = holdout_split(Simulator(random_state=2).simulate(400, (20, 50)), valid_fraction=0.25)
    assert valid is not None
    return train, valid


@pytest.mark.slow
def test_private_irt_spends_at_most_its_budget_and_learns(cohort: tuple[Responses, Responses]) -> None:
    train, valid = cohort
    model = make_model("irt")
    report = fit_private(model, train, valid, PrivacyConfig(epsilon=4.0, batch_size=60, epochs=4, seed=1))
    assert 0 < report.epsilon <= 4.0 + 1e-6 and report.delta == pytest.approx(1 / train.n_learners)
    assert report.steps == report.members[0]["steps"] <= 4 * round(train.n_learners / 60)
    assert report.learners == train.n_learners and report.unit == "learner"
    assert score(valid.correct, model.predict_proba(valid))["auc"] > 0.55  # it learned something
    again = make_model("irt")
    fit_private(again, train, valid, PrivacyConfig(epsilon=4.0, batch_size=60, epochs=4, seed=1))
    assert np.array_equal(again.predict_proba(valid), model.predict_proba(valid))  # seeded


@pytest.mark.slow
def test_private_ensemble_members_share_one_budget(cohort: tuple[Responses, Responses], tmp_path: object) -> None:
    train, valid = cohort
    model = make_model("ensemble", members=("irt", "dkt"), max_epochs=1, hidden=16, embed=8)
    report = fit_private(model, train, valid, PrivacyConfig(epsilon=8.0, batch_size=60, epochs=1))
    assert [m["model"] for m in report.members] == ["irt", "dkt"]
    assert report.steps == sum(m["steps"] for m in report.members)
    assert report.epsilon <= 8.0 + 1e-6
    assert report.noise_multiplier > calibrate_noise(8.0, report.delta, report.sample_rate, report.members[0]["steps"])
    p = model.predict_proba(valid)
    assert p.shape == (len(valid),) and np.isfinite(p).all()
    for member in model.members_:  # nothing was initialised from the answers: the DKT's item biases stay zero
        if member.name == "dkt":
            assert float(member.net_.item_bias.weight.detach().abs().max()) == 0.0


def test_models_dp_sgd_cannot_train_are_refused(cohort: tuple[Responses, Responses]) -> None:
    train, valid = cohort
    with pytest.raises(ConfigError, match="bkt"):
        fit_private(make_model("bkt"), train, valid, PrivacyConfig(epsilon=1.0))
    with pytest.raises(ConfigError, match="batch"):
        fit_private(make_model("irt"), train, valid, PrivacyConfig(epsilon=1.0, batch_size=10_000))
