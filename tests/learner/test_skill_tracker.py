from __future__ import annotations

import numpy as np
import pytest

from metatutor.learner import DAY, SkillGraph, SkillTracker, TrackerConfig


def _tiny(**config: float) -> SkillTracker:
    graph = SkillGraph.from_edges([("a", "b")], ["a", "b"])
    return SkillTracker(graph=graph, item_ids=["qa", "qb", "qab"], item_skills=[["a"], ["b"], ["b", "a"]],
                        config=TrackerConfig(**config))  # type: ignore[arg-type]


def test_answers_move_mastery_the_right_way() -> None:
    t = _tiny()
    right, wrong = t.new_state(), t.new_state()
    for _ in range(3):
        t.update(right, 0, 1)
        t.update(wrong, 0, 0)
    assert t.mastery(right)[0] > 0.9 > 0.3 > t.mastery(wrong)[0]
    assert right.ability > 0 > wrong.ability
    assert t.p_correct(right)[0] > t.p_correct(wrong)[0]


def test_single_skill_update_is_bkt_without_ability_or_speed() -> None:
    t = _tiny(ability_sd=0.0)
    t.config = TrackerConfig(ability_sd=0.0, speeds=(1.0,), speed_prior=(1.0,))
    s = t.new_state()
    t.update(s, 0, 1)
    prior, learn, guess, slip = 0.3, 0.15, 0.2, 0.1  # the defaults
    post = prior * (1 - slip) / (prior * (1 - slip) + (1 - prior) * guess)
    assert np.isclose(t.mastery(s)[0], post + (1 - post) * learn)


def test_conjunctive_item_blames_the_weaker_skill() -> None:
    t = _tiny()
    s = t.new_state()
    for _ in range(4):
        t.update(s, 0, 1)  # a looks mastered
    before = t.mastery(s).copy()
    t.update(s, 2, 0)  # a wrong answer to the item needing a and b
    after = t.mastery(s)
    assert before[0] - after[0] < before[1] - after[1] + 0.1
    assert after[1] < before[1] + 0.15  # b gains at most its learning step


def test_prerequisites_gate_learning_and_beliefs_decay() -> None:
    t = _tiny()
    s = t.new_state()
    low = t.learn_rate(t.mastery(s))[1]
    for _ in range(5):
        t.update(s, 0, 1)
    assert t.learn_rate(t.mastery(s))[1] > low
    now = t.mastery(s)[0]
    s.time += 30 * DAY
    assert t.mastery(s)[0] < now
    assert t.retrievability(s, 0) < 1.0  # the FSRS card fades too


def test_fitted_tracker_knows_the_course(tracker: SkillTracker) -> None:
    assert tracker.n_skills == 12 and len(tracker.item_ids) > 250
    assert (tracker.params["slip"] < 0.5).all() and (tracker.params["guess"] < 0.5).all()
    assert np.isfinite(tracker.offset).all()


def test_tracker_and_state_round_trip_through_json(tracker: SkillTracker) -> None:
    import json

    copy = SkillTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
    state = tracker.new_state(["s05"])
    for step in range(6):
        tracker.update(state, step, step % 2, time=60.0 * step)
    again = copy.state_from_dict(json.loads(json.dumps(tracker.state_to_dict(state))))
    assert np.allclose(tracker.p_correct(state), copy.p_correct(again))
    assert again.history == state.history and again.ability == state.ability
    assert copy.retrievability(again, 0) == tracker.retrievability(state, 0)


def test_learning_rate_is_gated_by_every_prerequisite(tracker: SkillTracker) -> None:
    m = np.random.default_rng(0).random(tracker.n_skills)
    penalty = tracker.config.prerequisite_penalty
    for k, pre in enumerate(tracker.prereq):
        gate = np.prod([m[p] + (1 - m[p]) * penalty for p in pre]) if len(pre) else 1.0
        assert abs(tracker.learn_rate(m)[k] - tracker.params["learn"][k] * gate) < 1e-12
    assert any(len(p) for p in tracker.prereq)  # the fixture's course has prerequisites to gate by


def test_prerequisite_gating_can_come_from_another_belief(tracker: SkillTracker) -> None:
    """Thompson sampling draws mastery but gates learning by the mean: a draw that puts a skill's
    prerequisites high must not make the skill look ready."""
    state = tracker.new_state(["s12"])
    m = tracker.mastery(state)
    k = list(tracker.skill_ids).index("s12")
    pre = tracker.prereq[k]
    assert len(pre) and (m[pre] < 0.5).all()
    weight = np.zeros(tracker.n_skills)
    weight[k] = 1.0
    draw = m.copy()
    draw[pre] = 1.0
    items = tracker.skill_items[k]
    by_draw = tracker.expected_gain(state, weight, draw)[items]
    by_mean = tracker.expected_gain(state, weight, draw, gate=m)[items]
    factor = np.prod(m[pre] + (1 - m[pre]) * tracker.config.prerequisite_penalty)
    assert np.allclose(by_mean, by_draw * factor) and factor < 0.5


def test_progress_matches_a_replay_without_the_recent_answers_and_survives_a_short_stored_history() -> None:
    t = _tiny(progress_every=5)
    s = t.new_state()
    answers = [(0, 1), (0, 0), (2, 1), (1, 0), (0, 1)] * 3  # 15 answers, one minute apart
    for n, (item, y) in enumerate(answers[:9]):
        t.update(s, item, y, time=60.0 * n)
    assert t.progress(s, np.ones(2, dtype=bool)) is None  # fewer than 2 × 5 answers
    for n, (item, y) in enumerate(answers[9:], start=9):
        t.update(s, item, y, time=60.0 * n)
    s.time += 3 * DAY  # both masteries are taken now, after the same decay
    earlier = t.new_state()
    for n, (item, y) in enumerate(answers[:10]):  # the newest snapshot at least 5 answers old: after 10
        t.update(earlier, item, y, time=60.0 * n)
    earlier.time = s.time
    n, rise = t.progress(s, np.array([True, False]))  # type: ignore[misc]
    assert n == 5
    assert rise == pytest.approx(t.mastery(s)[0] - t.mastery(earlier)[0], abs=1e-12)
    stored = t.state_from_dict(t.state_to_dict(s, keep_history=3))  # the service keeps a short history
    assert len(stored.history) == 3 and stored.answers == 15
    assert t.progress(stored, np.array([True, False])) == pytest.approx((5, rise))
    old = t.state_to_dict(s)
    del old["marks"], old["answers"]  # a state stored before snapshots existed
    assert t.progress(t.state_from_dict(old), np.ones(2, dtype=bool)) is None
