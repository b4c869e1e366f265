"""The batched IRT learner model of the adaptive-testing benchmark: the takers' ability prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


@pytest.mark.slow
def test_dkt_learner_model_scores_the_query_as_the_next_response(simulated: Responses) -> None:
    from metatutor.assessment.learners import BlendLearners, DKTLearners
    from metatutor.assessment.pools import first_attempts, make_pools

    data = first_attempts(simulated, min_responses=20)
    learners = data.learners_present()
    train, test = data.select_learners(learners[:150]), data.select_learners(learners[150:])
    dkt = DKTLearners(copies=1, max_epochs=2).fit(train)
    pools = make_pools(test, seed=100)
    items, y, query = pools.pool_item[:4, :3], pools.pool_y[:4, :3], pools.held_item[:4, :2]
    p = dkt.predict(items, y, query)
    assert p.shape == (4, 2) and np.all((p > 0) & (p < 1))
    # the batched path equals the model's own serving state fed the same answers one by one
    model = dkt.model_
    for j in range(4):
        state = model.online()
        for i, answer in zip(items[j], y[j], strict=True):
            code = int(dkt.code_[i])
            state.update(code, dkt.skills_[code][: model.max_skills_], int(answer))
        assert np.allclose(state.predict(dkt.code_[query[j]]), p[j], atol=1e-5)
    # order matters to an LSTM, and no answers gives the population's start
    assert not np.allclose(dkt.predict(items[:, ::-1], y[:, ::-1], query), p)
    none = np.zeros((4, 0), dtype=np.int64)
    assert dkt.predict(none, none, query).shape == (4, 2)
    irt = IRTLearners("1pl").fit(train)
    blend = BlendLearners(irt, dkt).predict(items, y, query)
    to_logit = lambda q: np.log(q / (1 - q))  # noqa: E731
    mean = (to_logit(irt.predict(items, y, query)) + to_logit(p)) / 2
    assert np.allclose(blend, 1 / (1 + np.exp(-mean)))


@pytest.mark.slow
def test_pair_effects_learn_which_items_go_together(two_skill_world) -> None:  # type: ignore[no-untyped-def]
    from metatutor.assessment.learners import PairLearners

    whole = Responses.concat([two_skill_world(600, 0), two_skill_world(200, 1)])
    learners = whole.learners_present()
    train = whole.select_learners([x for x in learners if x.startswith("u0-")])
    test = whole.select_learners([x for x in learners if x.startswith("u1-")])
    base = IRTLearners("1pl", taker_prior=False).fit(train)
    pairs = PairLearners(base).fit(train)
    code = {str(x): i for i, x in enumerate(train.item_ids)}
    asked, query = np.array([[code["a0"]], [code["a0"]]]), np.array([[code["a1"], code["b1"]]] * 2)
    effect = pairs.effects(asked, np.array([[1], [0]]), query)
    assert effect[0, 0] > 0.5 and effect[1, 0] < -0.5  # a0's answer moves a1 both ways
    assert np.all(np.abs(effect[:, 1]) < 0.2)  # and leaves b1 alone
    assert pairs.table_.counted == 600 * 20 * 19  # every ordered pair of every training learner, nobody else's
    # held-out answers of new learners after 4 answers (pooled AUC, as the benchmark scores): the pairs
    # beat the one ability they adjust
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    scored: dict[str, list[float]] = {"base": [], "pairs": []}
    truth: list[int] = []
    for j in range(test.n_learners):
        lo, hi = test.starts[j], test.starts[j + 1]
        order = rng.permutation(np.arange(lo, hi))
        items, y, held = test.item[order[:4]][None], test.correct[order[:4]][None], order[4:]
        truth += list(test.correct[held])
        for name, model in (("base", base), ("pairs", pairs)):
            scored[name] += list(model.predict(items, y, test.item[held][None])[0])
    assert roc_auc_score(truth, scored["pairs"]) > roc_auc_score(truth, scored["base"]) + 0.02
