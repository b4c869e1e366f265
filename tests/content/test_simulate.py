from __future__ import annotations

import numpy as np
import pytest

from metatutor.content.course import course_items
from metatutor.content.simulate import Classmates, ClassmatesConfig


@pytest.fixture(scope="module")
def items() -> list:
    return course_items(8, seed=1)


def test_seeded_and_reproducible(items: list) -> None:
    a = Classmates(items, random_state=5).simulate(6, per_skill=2)
    b = Classmates(items, random_state=5).simulate(6, per_skill=2)
    c = Classmates(items, random_state=6).simulate(6, per_skill=2)
    assert a.answers["raw"].tolist() == b.answers["raw"].tolist()
    assert a.answers["raw"].tolist() != c.answers["raw"].tolist()


@pytest.mark.slow
def test_grading_recovers_what_the_classmates_meant(items: list) -> None:
    log = Classmates(items, random_state=2).simulate(60, per_skill=3).answers
    meant = log.set_index("intended")
    assert (meant.loc["correct", "verdict"] == "correct").all()
    assert (meant.loc["typo", "verdict"] == "unreadable").all()
    mis = log[log["intended"] == "misconception"]
    assert len(mis) > 100 and (mis["detected"] == mis["true_misconception"]).all()
    slips = log[log["intended"] == "slip"]
    assert (slips["verdict"] == "incorrect").all()
    assert (slips["detected"].isna() | slips["detected"].isin(log["true_misconception"].dropna())).all()


def test_learners_learn_and_unlearn_misconceptions(items: list) -> None:
    sim = Classmates(items, ClassmatesConfig(learn_rate=0.3), random_state=3)
    learner = sim.new_learner()
    item = next(i for i in items if i.template == "frac-add-unlike")
    before = learner.p_correct(item, sim.difficulty_[item.id])
    for _ in range(10):
        learner.learn(item, None)
    assert learner.p_correct(item, sim.difficulty_[item.id]) > before
    learner.propensity["add-denominators"] = 0.8
    learner.learn(item, "add-denominators")
    assert learner.propensity["add-denominators"] == pytest.approx(0.8 * 0.7)


def test_responses_leave_unreadable_answers_out(items: list) -> None:
    log = Classmates(items, random_state=4).simulate(20, per_skill=3)
    readable = log.answers[log.answers["verdict"] != "unreadable"]
    assert len(log.responses) == len(readable) < len(log.answers)
    assert np.array_equal(log.responses.correct, (readable["verdict"] == "correct").astype(int).to_numpy())
