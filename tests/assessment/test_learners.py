"""The batched IRT learner model of the adaptive-testing benchmark: the takers' ability prior."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metatutor.assessment.irt import p_correct
from metatutor.assessment.learners import IRTLearners
from metatutor.data.responses import Responses


def assigned_by_ability(n_learners: int, seed: int) -> tuple[Responses, np.ndarray]:
    """Rasch items; everyone answers the 20 anchor items q0-q19; learners below θ = 0 also get q20-q29,
    the others q30-q39 (a platform that hands easy practice to struggling learners). All b = 0 except anchors."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    b = np.concatenate([np.linspace(-1.5, 1.5, 20), np.zeros(20)])
    rows = []
    for j, t in enumerate(theta):
        extra = range(20, 30) if t < 0 else range(30, 40)
        for i in [*range(20), *extra]:
            y = int(rng.random() < p_correct(np.array(t), np.array(1.0), np.array(b[i]), np.array(0.0)))
            rows.append((f"u{seed}-{j}", f"q{i}", f"s{i // 10}", y))
    return Responses.from_frame(pd.DataFrame(rows, columns=["learner", "item", "skill", "correct"])), theta


def held_out_logloss(model: IRTLearners, test: Responses) -> float:
    """Log-loss on every test learner's q20-q39 answers, predicted before any answer is seen."""
    codes = {str(x): i for i, x in enumerate(test.item_ids)}
    loss = []
    for j in range(test.n_learners):
        lo, hi = test.starts[j], test.starts[j + 1]
        items, y = test.item[lo:hi], test.correct[lo:hi]
        keep = np.isin(items, [codes[f"q{i}"] for i in range(20, 40) if f"q{i}" in codes])
        none = np.zeros((1, 0), dtype=np.int64)
        p = np.clip(model.predict(none, none, items[keep][None]), 1e-6, 1 - 1e-6)[0]
        loss.extend(-(y[keep] * np.log(p) + (1 - y[keep]) * np.log1p(-p)))
    return float(np.mean(loss))


def test_takers_prior_knows_who_answers_an_item() -> None:
    whole = Responses.concat([assigned_by_ability(400, 0)[0], assigned_by_ability(150, 1)[0]])
    learners = whole.learners_present()
    train = whole.select_learners([x for x in learners if x.startswith("u0-")])
    test = whole.select_learners([x for x in learners if x.startswith("u1-")])
    model = IRTLearners("1pl").fit(train)
    codes = {str(x): i for i, x in enumerate(train.item_ids)}
    weak = model.taker_mean_[[codes[f"q{i}"] for i in range(20, 30)]]
    strong = model.taker_mean_[[codes[f"q{i}"] for i in range(30, 40)]]
    anchors = model.taker_mean_[[codes[f"q{i}"] for i in range(20)]]
    # E[θ | θ < 0] = -0.80 and E[θ | θ > 0] = +0.80 for θ ~ N(0, 1); the EAPs shrink a little
    assert np.all(weak < -0.4) and np.all(strong > 0.4) and np.all(np.abs(anchors) < 0.2)
    assert 0.6 < model.taker_sd_ < 1.1
    plain = IRTLearners("1pl", taker_prior=False).fit(train)
    assert held_out_logloss(model, test) < held_out_logloss(plain, test) - 0.01
    # with answers seen, each query still gets its own prior: the same answers, different items
    items = np.array([[codes["q5"], codes["q12"]]])
    y = np.array([[1, 0]])
    both = model.predict(items, y, np.array([[codes["q25"], codes["q35"]]]))[0]
    assert both[1] > both[0]  # same calibrated difficulty, stronger takers
