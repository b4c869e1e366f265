from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from metatutor.data.responses import Responses
from metatutor.models.training import BestCheckpoint, BestEpoch, WeightAverage, response_weighted_bce


def _scripted(aucs: list[float], valid: Responses) -> tuple[nn.Linear, BestEpoch, list[float]]:
    """A stopper whose validation predictions reach the given AUCs epoch after epoch (the weight of
    the network is set to the epoch number, so the kept weights say which epoch was kept)."""
    net = nn.Linear(1, 1, bias=False)
    y = valid.correct.astype(float)
    kept: list[float] = []

    def predict(r: Responses) -> np.ndarray:
        auc = aucs[len(kept)]
        kept.append(auc)
        # the truth with a share 1 - auc of the answers flipped: the AUC is about `auc`
        flip = np.random.default_rng(0).random(len(y)) > auc
        return np.where(flip, 1 - y, y)

    return net, BestEpoch(net, valid, predict, patience=2, max_seconds=None, name="test"), kept


def test_keeps_the_best_epoch_and_stops_after_patience(simulated: Responses) -> None:
    net, stopper, _ = _scripted([0.6, 0.9, 0.7, 0.65, 0.99], simulated)
    stopped_at = None
    for epoch in range(1, 6):
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        if stopper.end_epoch(train_loss=1.0 / epoch):
            stopped_at = epoch
            break
    assert stopped_at == 4  # epochs 3 and 4 were not better than epoch 2
    stopper.restore()
    assert float(net.weight.detach()) == 2.0 and not net.training
    aucs = [h["valid_auc"] for h in stopper.history]
    assert len(aucs) == 4 and int(np.argmax(aucs)) == 1


@pytest.mark.parametrize("valid", [None, "one class"])
def test_without_usable_validation_the_last_epoch_is_kept(simulated: Responses, valid: str | None) -> None:
    net = nn.Linear(1, 1, bias=False)
    data = None if valid is None else simulated.select_rows(simulated.correct == 1)
    stopper = BestEpoch(net, data, lambda r: np.zeros(len(r)), patience=1, max_seconds=None, name="test")
    for epoch in range(1, 4):
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        assert not stopper.end_epoch(train_loss=0.5)
    stopper.restore()
    assert float(net.weight.detach()) == 3.0 and "valid_auc" not in stopper.history[-1]


def test_best_checkpoint_keeps_the_best_score_and_without_scores_the_last() -> None:
    """The one early-stopping helper: a strictly better score (min_delta 0) replaces the checkpoint, no
    patience never stops, and `check(None)` (nothing to validate on) keeps the current weights."""
    net = nn.Linear(1, 1, bias=False)
    stopper = BestCheckpoint.of(net, score=0.5, min_delta=0.0)
    for value, score in [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (4.0, 0.7)]:  # only 0.7 after 0.5 is better
        with torch.no_grad():
            net.weight.fill_(value)
        assert not stopper.check(score)
    stopper.restore()
    assert float(net.weight.detach()) == 2.0 and stopper.best == 0.7 and stopper.bad == 2
    patient = BestCheckpoint.of(net, patience=2)  # min_delta 1e-4: 0.70005 is no better than 0.7
    assert [patient.check(s) for s in (0.7, 0.70005, 0.6)] == [False, False, True]
    blind = BestCheckpoint.of(net)
    with torch.no_grad():
        net.weight.fill_(9.0)
    assert not blind.check(None)
    with torch.no_grad():
        net.weight.fill_(0.0)
    blind.restore()
    assert float(net.weight.detach()) == 9.0


def test_weight_average_warms_up_then_follows_the_decay() -> None:
    net = nn.Linear(1, 1, bias=False)
    average = WeightAverage(net, decay=0.9)
    values = [1.0, 3.0, 5.0, 7.0, 9.0] + [2.0] * 10
    expected = None
    for n, v in enumerate(values):
        with torch.no_grad():
            net.weight.fill_(v)
        average.update(net)
        if expected is None:
            expected = v  # the first update copies
        else:
            d = min(0.9, (1 + n) / (10 + n))  # after n earlier updates
            expected = d * expected + (1 - d) * v
        assert average.module.weight.detach().item() == pytest.approx(expected, rel=1e-6)
    assert average.module.weight.detach().item() != pytest.approx(2.0, abs=1e-3)  # still remembers the early weights
    assert net.weight.detach().item() == 2.0  # the trained weights are left alone


def test_dkt_keeps_the_averaged_weights(simulated: Responses) -> None:
    from metatutor.models.dkt import DKT, DKTConfig

    learners = simulated.learners_present()
    train, valid = simulated.select_learners(learners[:40]), simulated.select_learners(learners[40:60])
    averaged = DKT(DKTConfig(max_epochs=2, random_state=0)).fit(train, valid)
    plain = DKT(DKTConfig(max_epochs=2, random_state=0, average_decay=None)).fit(train, valid)
    a, b = averaged.net_.state_dict(), plain.net_.state_dict()
    assert set(a) == set(b)  # the saved model has the same layout either way
    assert any(not torch.equal(a[k], b[k]) for k in a)
    p = averaged.predict_proba(valid)
    assert np.all((p > 0) & (p < 1)) and not np.allclose(p, plain.predict_proba(valid))


def test_every_response_weighs_the_same_whatever_its_batch() -> None:
    """A response in a batch of 2 and the same response in a batch of 50 get the same gradient, and an
    epoch's losses add up to the mean loss per response times the number of batches."""
    short = torch.tensor([0.3, -1.0], requires_grad=True)
    long = torch.cat([torch.tensor([0.3]), torch.linspace(-2, 2, 49)]).requires_grad_(True)
    y_short, y_long = torch.tensor([1.0, 0.0]), torch.cat([torch.tensor([1.0]), (torch.arange(49) % 2).float()])
    per_batch = (2 + 50) / 2
    loss_short = response_weighted_bce(short, y_short, per_batch)
    loss_long = response_weighted_bce(long, y_long, per_batch)
    (loss_short + loss_long).backward()
    assert short.grad is not None and long.grad is not None
    assert float(short.grad[0]) == pytest.approx(float(long.grad[0]))
    with torch.no_grad():
        mean = nn.functional.binary_cross_entropy_with_logits(torch.cat([short, long]), torch.cat([y_short, y_long]))
    assert float((loss_short + loss_long).detach()) == pytest.approx(2 * float(mean), rel=1e-6)
