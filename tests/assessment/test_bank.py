from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.irt import p_correct
from metatutor.data.responses import Responses
from metatutor.errors import ConfigError


def simulate_2pl(n_learners: int, a: np.ndarray, b: np.ndarray, seed: int, c: np.ndarray | None = None,
                 prefix: str = "u") -> Responses:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    p = p_correct(theta[:, None], a, b, np.zeros_like(b) if c is None else c)
    y = (rng.random(p.shape) < p).astype(int)
    learner, item = np.meshgrid(np.arange(n_learners), np.arange(len(b)), indexing="ij")
    frame = pd.DataFrame({"learner": [f"{prefix}{v}" for v in learner.ravel()], "item": [f"q{v}" for v in item.ravel()],
                          "skill": [f"s{v % 3}" for v in item.ravel()], "correct": y.ravel()})
    return Responses.from_frame(frame)


@pytest.fixture(scope="module")
def truth() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return np.exp(rng.normal(0, 0.3, size=25)), rng.normal(size=25)


def test_2pl_recovers_generating_parameters(truth: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = truth
    bank = ItemBank.calibrate(simulate_2pl(1500, a, b, seed=1), kind="2pl")
    order = np.argsort([int(i[1:]) for i in bank.item_ids])
    assert np.corrcoef(bank.b[order], b)[0, 1] > 0.97
    assert np.corrcoef(bank.a[order], a)[0, 1] > 0.7
    assert np.mean(np.abs(bank.b[order] - b)) < 0.2
    assert (bank.se_b > 0).all() and (bank.se_b < 0.3).all() and (bank.n_responses == 1500).all()


def test_1pl_is_put_on_the_standard_normal_scale() -> None:
    b = np.linspace(-2, 2, 20)
    bank = ItemBank.calibrate(simulate_2pl(1500, np.full(20, 1.7), b, seed=2), kind="1pl")
    assert np.allclose(bank.a, bank.a[0]) and bank.a[0] == pytest.approx(1.7, abs=0.2)
    order = np.argsort([int(i[1:]) for i in bank.item_ids])
    assert np.mean(np.abs(bank.b[order] - b)) < 0.15


@pytest.mark.slow
def test_3pl_estimates_guessing_inside_its_prior(truth: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = truth
    bank = ItemBank.calibrate(simulate_2pl(1500, a, b, seed=3, c=np.full(25, 0.2)), kind="3pl")
    assert ((bank.c > 0.02) & (bank.c < 0.45)).all()
    assert bank.c.mean() == pytest.approx(0.2, abs=0.08)


@pytest.mark.slow
def test_recalibration_moves_items_towards_new_evidence(truth: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = truth
    small = ItemBank.calibrate(simulate_2pl(60, a, b, seed=4), kind="2pl")
    order = np.argsort([int(i[1:]) for i in small.item_ids])
    more = small.recalibrate(simulate_2pl(1500, a, b, seed=5, prefix="v"))
    assert np.mean(np.abs(more.b[order] - b)) < np.mean(np.abs(small.b[order] - b))
    assert (more.se_b < small.se_b).all() and (more.n_responses == 1560).all()
    # a handful of new answers hardly moves a well-estimated item
    big = ItemBank.calibrate(simulate_2pl(1500, a, b, seed=6), kind="2pl")
    nudged = big.recalibrate(simulate_2pl(3, a, b, seed=7, prefix="w"))
    assert np.max(np.abs(nudged.b - big.b)) < 0.15


@pytest.mark.slow
def test_item_fit_flags_an_item_that_runs_against_ability(truth: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = truth
    data = simulate_2pl(800, a, b, seed=8)
    bank = ItemBank.from_parameters(a, b, item_ids=np.array([f"q{i}" for i in range(25)]))
    fit = bank.item_fit(data).set_index("item")
    assert fit["outfit"].drop("q0").between(0.7, 1.3).all() and fit["infit"].drop("q0").between(0.8, 1.2).all()
    flipped = data.select_rows(np.ones(len(data), dtype=bool))
    rows = flipped.item == np.flatnonzero(flipped.item_ids == "q0")[0]
    frame = flipped.to_frame()
    frame.loc[rows, "correct"] = 1 - frame.loc[rows, "correct"]
    misfit = bank.item_fit(Responses.from_frame(frame)).set_index("item")
    assert misfit.loc["q0", "infit"] > 1.3 and misfit.loc["q0", "outfit"] > 1.3


def test_save_load_round_trip_and_unknown_items(tmp_path: Path, truth: tuple[np.ndarray, np.ndarray]) -> None:
    bank = ItemBank.calibrate(simulate_2pl(200, *truth, seed=9), kind="2pl")
    bank.save(tmp_path / "bank.json")
    again = ItemBank.load(tmp_path / "bank.json")
    for field in ("a", "b", "c", "se_b", "skill", "n_responses"):
        np.testing.assert_allclose(getattr(again, field), getattr(bank, field))
    assert list(again.item_ids) == list(bank.item_ids) and list(again.skill_ids) == list(bank.skill_ids)
    with pytest.raises(ConfigError, match="not in the bank"):
        bank.codes(["q1", "nope"])


def test_skill_difficulty_prior_centres_each_item_on_its_skill() -> None:
    from metatutor.assessment.calibration import skill_difficulty_prior

    b = np.array([-1.0, -2.0, 1.0, 3.0, 0.5, 9.0])
    skill = np.array([0, 0, 1, 1, 1, -1])
    counts = np.array([100, 100, 100, 100, 0, 100])  # item 4 unanswered: carries no weight
    mean, sd = skill_difficulty_prior(b, skill, counts, default_sd=2.0, min_count=30)
    assert mean[:5] == pytest.approx([-1.5, -1.5, 2.0, 2.0, 2.0])
    # spread of the answered items around their skill means: residuals 0.5, -0.5, -1, 1 -> sqrt(2.5 / 4)
    assert sd[:5] == pytest.approx([np.sqrt(2.5 / 4)] * 5)
    assert mean[5] == 0.0 and sd[5] == 2.0  # no skill: the global prior
    assert skill_difficulty_prior(b, np.full(6, -1), counts, default_sd=2.0)[1] == pytest.approx(np.full(6, 2.0))


def test_skill_prior_pulls_sparsely_answered_items_towards_their_skill() -> None:
    from metatutor.assessment.calibration import CalibrationConfig

    rng = np.random.default_rng(5)
    n_items = 60
    skill = np.arange(n_items) % 3
    b = np.array([-1.5, 0.0, 1.5])[skill] + rng.normal(0, 0.3, size=n_items)
    full = simulate_2pl(800, np.ones(n_items), b, seed=6)
    sparse = np.arange(n_items) >= 45  # the last 15 items: answered by 6 learners only
    item_no = np.array([int(i[1:]) for i in full.item_ids])[full.item]
    keep = ~sparse[item_no] | (full.learner < 6)
    responses = full.select_rows(keep)
    errors = {}
    for flag in (False, True):
        bank = ItemBank.calibrate(responses, kind="2pl", config=CalibrationConfig(skill_prior=flag))
        got = dict(zip(bank.item_ids, bank.b, strict=True))
        est = np.array([got[f"q{j}"] for j in range(n_items)])
        errors[flag] = (np.mean(np.abs(est[sparse] - b[sparse])), np.mean(np.abs(est[~sparse] - b[~sparse])))
    assert errors[True][0] < 0.6 * errors[False][0]
    assert errors[True][1] < errors[False][1] + 0.05  # well-answered items barely move


def test_score_gives_every_learner_their_eap(truth: tuple[np.ndarray, np.ndarray]) -> None:
    from metatutor.assessment.estimation import eap

    a, b = truth
    data = simulate_2pl(40, a, b, seed=10)
    keep = ~((data.learner_ids[data.learner] == "u3") & (data.item_ids[data.item] != "q0"))  # u3: one answer
    data = data.select_rows(keep)
    bank = ItemBank.from_parameters(a[1:], b[1:], item_ids=np.array([f"q{i}" for i in range(1, 25)]))  # no q0
    scores = bank.score(data, prior_sd=1.5).set_index("learner")
    assert len(scores) == 40 and scores.loc["u3", "n"] == 0
    assert scores.loc["u3", "theta"] == pytest.approx(0.0, abs=1e-6) and scores.loc["u3", "se"] == pytest.approx(1.5, abs=1e-3)
    frame = data.to_frame()
    for learner in ("u0", "u7"):
        rows = frame[(frame["learner"] == learner) & (frame["item"] != "q0")]
        codes = bank.codes(rows["item"].to_numpy())
        one = eap(rows["correct"].to_numpy(dtype=float), bank.a[codes], bank.b[codes], bank.c[codes], prior_sd=1.5)
        assert scores.loc[learner, "theta"] == pytest.approx(one.theta, abs=1e-10)
        assert scores.loc[learner, "se"] == pytest.approx(one.se, abs=1e-10) and scores.loc[learner, "n"] == 24
