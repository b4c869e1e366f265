from __future__ import annotations

import json

import numpy as np
import pytest

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.irt import p_correct
from metatutor.assessment.selection import SelectorConfig, select_item
from metatutor.assessment.session import CATSession
from metatutor.assessment.simulation import calibrate_exposure, rasch_bank, simulate
from metatutor.assessment.stopping import StoppingRule
from metatutor.errors import ConfigError


@pytest.fixture(scope="module")
def bank() -> ItemBank:
    rng = np.random.default_rng(0)
    n = 120
    return ItemBank.from_parameters(np.exp(rng.normal(0, 0.2, n)), rng.normal(size=n), item_ids=np.array(
        [f"q{i}" for i in range(n)]), skill=np.arange(n) % 3, skill_ids=np.array(["alg", "geo", "num"]))


def take(session: CATSession, theta: float, rng: np.random.Generator, until: int | None = None) -> list[str]:
    asked = []
    while (item := session.next_item()) is not None and (until is None or len(asked) < until):
        code = session.bank.codes([item])[0]
        p = p_correct(theta, session.bank.a[code], session.bank.b[code], session.bank.c[code])
        session.answer(item, int(rng.random() < p))
        asked.append(item)
    return asked


def test_session_resumes_from_json_exactly(bank: ItemBank) -> None:
    selector = SelectorConfig(criterion="mfi", randomesque=4)
    whole = CATSession(bank, selector=selector, stopping=StoppingRule(max_items=12), seed=5)
    full = take(whole, 0.8, np.random.default_rng(1))
    first = CATSession(bank, selector=selector, stopping=StoppingRule(max_items=12), seed=5)
    rng = np.random.default_rng(1)
    part = take(first, 0.8, rng, until=5)
    pending = first.next_item()
    state = json.loads(json.dumps(first.to_dict()))
    resumed = CATSession.from_dict(state, bank)
    assert resumed.next_item() == pending  # the pending question survives the round trip
    rest = take(resumed, 0.8, rng)
    assert part + rest == full and len(set(full)) == 12
    assert resumed.result()["theta"] == pytest.approx(whole.result()["theta"])
    assert resumed.finished and resumed.stop_reason == "max_items" and resumed.next_item() is None


def test_answers_are_checked(bank: ItemBank) -> None:
    session = CATSession(bank)
    item = session.next_item()
    with pytest.raises(ConfigError, match="was not asked"):
        session.answer("q999" if item != "q999" else "q0", 1)
    with pytest.raises(ConfigError, match="0 or 1"):
        session.answer(item, 2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a saved CAT session"):
        CATSession.from_dict({"selector": {}}, bank)


def test_se_target_and_classification_stop_early(bank: ItemBank) -> None:
    se_stop = CATSession(bank, stopping=StoppingRule(max_items=60, se_target=0.45))
    n = len(take(se_stop, 0.0, np.random.default_rng(2)))
    assert se_stop.stop_reason == "se_target" and n < 60 and se_stop.estimate.se <= 0.45
    strong = CATSession(bank, stopping=StoppingRule(max_items=60, cut_score=-1.0, confidence=0.95))
    take(strong, 2.5, np.random.default_rng(3))
    assert strong.stop_reason == "classified" and strong.result()["classification"] == "above"


@pytest.mark.parametrize("estimator", ["eap", "map", "mle"])
def test_every_estimator_runs_a_test(bank: ItemBank, estimator: str) -> None:
    session = CATSession(bank, estimator=estimator, stopping=StoppingRule(max_items=15))
    take(session, -0.5, np.random.default_rng(4))
    assert len(session.items) == 15 and abs(session.estimate.theta + 0.5) < 2.0


def test_content_balancing_follows_targets(bank: ItemBank) -> None:
    selector = SelectorConfig(content_targets={"alg": 0.5, "geo": 0.25, "num": 0.25})
    session = CATSession(bank, selector=selector, stopping=StoppingRule(max_items=16))
    take(session, 0.3, np.random.default_rng(5))
    counts = np.bincount(bank.skill[session.items], minlength=3)
    assert counts.tolist() == [8, 4, 4]
    with pytest.raises(ConfigError, match="skills the bank does not have"):
        select_item(bank, SelectorConfig(content_targets={"bio": 1.0}), theta=0.0,
                    available=np.ones(len(bank), dtype=bool), administered=np.array([], dtype=np.int64),
                    rng=np.random.default_rng(0))


def test_maximum_information_picks_the_item_nearest_theta_on_a_rasch_bank() -> None:
    bank = ItemBank.from_parameters(np.ones(5), np.array([-2.0, -1.0, 0.2, 1.0, 2.0]))
    avail = np.ones(5, dtype=bool)
    for criterion in ("mfi", "kl"):
        pick = select_item(bank, SelectorConfig(criterion=criterion), theta=0.9, available=avail,
                           administered=np.array([0]), rng=np.random.default_rng(0))
        assert pick == 3
    avail[3] = False
    assert select_item(bank, SelectorConfig(), theta=0.9, available=avail, administered=np.array([0]),
                       rng=np.random.default_rng(0)) == 2  # b = 0.2 is nearer 0.9 than b = 2.0


def test_exposure_control_caps_the_most_used_item() -> None:
    bank = rasch_bank(80, np.random.default_rng(1))
    theta = np.random.default_rng(2).normal(size=150)
    plain = simulate(bank, theta, length=5, selector=SelectorConfig(), rng=np.random.default_rng(3))
    assert plain.exposure(80).max() == 1.0  # every examinee starts on the same item
    k = calibrate_exposure(bank, length=5, selector=SelectorConfig(), r_max=0.3, n_examinees=150, seed=4)
    controlled = simulate(bank, theta, length=5, selector=SelectorConfig(), rng=np.random.default_rng(3),
                          exposure_k=k)
    assert controlled.exposure(80).max() <= 0.36
    assert controlled.rmse()[-1] < 1.2 * plain.rmse()[-1]


def test_exposure_margin_for_a_finite_cohort() -> None:
    bank = rasch_bank(80, np.random.default_rng(1))
    theta = np.random.default_rng(2).normal(size=150)
    k = calibrate_exposure(bank, length=5, selector=SelectorConfig(), r_max=0.3, n_examinees=150, seed=4,
                           rounds=8, cohort=150)  # aims at 0.3 - 3 * sqrt(0.21 / 150) = 0.19
    controlled = simulate(bank, theta, length=5, selector=SelectorConfig(), rng=np.random.default_rng(3),
                          exposure_k=k)
    assert controlled.exposure(80).max() <= 0.3
