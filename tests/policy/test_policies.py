from __future__ import annotations

import numpy as np
import pytest

from metatutor.errors import ConfigError
from metatutor.learner import DAY, SkillTracker, Tracker
from metatutor.policy import POLICIES, make_policy
from metatutor.policy.path import expected_items, learning_path


@pytest.mark.parametrize("name", list(POLICIES))
def test_every_policy_recommends_a_goal_item_with_a_reason(any_tracker: Tracker, name: str) -> None:
    """Every policy runs on every learner model, through the interface only."""
    tracker = any_tracker
    state = tracker.new_state(["s06"])
    allowed = {str(tracker.item_ids[i]) for k in np.flatnonzero(state.closure) for i in tracker.skill_items[k]}
    policy = make_policy(name, tracker)
    recs = []
    for step in range(15):
        rec = policy.recommend(state, np.random.default_rng(step))
        assert rec.item in allowed and rec.policy == name
        assert rec.skill in rec.reason and f"{rec.predicted:.0%}" in rec.reason
        assert 0 < rec.predicted < 1
        tracker.observe(state, rec.item_index, step % 2, step * 60.0)
        recs.append(rec.item)
    again = make_policy(name, tracker).recommend(state, np.random.default_rng(99))
    assert again == make_policy(name, tracker).recommend(state, np.random.default_rng(99))  # seeded


def test_unknown_policy() -> None:
    with pytest.raises(ConfigError, match="unknown policy 'best'"):
        make_policy("best", None)  # type: ignore[arg-type]


def test_mastery_policy_follows_prerequisite_order(tracker: SkillTracker, rng: np.random.Generator) -> None:
    state = tracker.new_state()
    first = tracker.graph.order()[0]
    assert make_policy("mastery", tracker).recommend(state, rng).skill == first


def test_target_policy_picks_the_item_nearest_the_target(tracker: SkillTracker, rng: np.random.Generator) -> None:
    state = tracker.new_state()
    policy = make_policy("target", tracker, target=0.7)
    rec = policy.recommend(state, rng)
    p = tracker.p_correct(state)
    ready = policy.items_of(policy.ready(state, tracker.mastery(state)))  # type: ignore[attr-defined]
    assert abs(rec.predicted - 0.7) == pytest.approx(np.abs(p[ready] - 0.7).min())


@pytest.mark.parametrize("tiebreak", ["target", "diagnostic"])
def test_gain_tie_break_chooses_among_the_near_best_items(tracker: SkillTracker, rng: np.random.Generator,
                                                          tiebreak: str) -> None:
    state = tracker.new_state(["s06"])
    for step, item in enumerate(tracker.skill_items[0][:3]):
        tracker.update(state, int(item), step % 2, time=step * 60.0)
    policy = make_policy("gain", tracker, target=0.7, tolerance=0.5, tiebreak=tiebreak)
    rec = policy.recommend(state, rng)
    m = tracker.mastery(state)
    weight = np.zeros(tracker.n_skills)
    weight[policy.unmastered(state, m)] = 1.0
    gain = tracker.expected_gain(state, weight) * policy.inside(state)
    near = np.flatnonzero(gain >= 0.5 * gain.max())
    assert len(near) > 1 and rec.item_index in near
    if tiebreak == "target":
        p = tracker.p_correct(state)
        assert abs(rec.predicted - 0.7) == pytest.approx(np.abs(p[near] - 0.7).min())
        words = "the easiest" if rec.predicted < 0.55 else "the hardest" if rec.predicted > 0.85 else "nearest 70%"
        assert words in rec.reason
    else:
        assert "tells the most" in rec.reason


def test_review_brings_back_a_fading_skill(tracker: SkillTracker, rng: np.random.Generator) -> None:
    state = tracker.new_state()
    root = tracker.graph.order()[0]
    k = list(tracker.graph.skills).index(root)
    item = int(tracker.skill_items[k][0])
    for step in range(8):
        tracker.update(state, item, 1, time=step * 60.0)
    assert state.mastered_once[k]
    for schedule in ("fsrs", "model"):
        policy = make_policy("review", tracker, schedule=schedule)
        fresh = policy.recommend(state, rng)
        assert fresh.kind != "review" or fresh.skill != root
        state.time = 400 * DAY
        late = policy.recommend(state, rng)
        assert late.kind == "review" and late.skill == root and "fading" in late.reason
        state.time = 7 * 60.0


def test_learning_path_respects_prerequisites(tracker: SkillTracker) -> None:
    state = tracker.new_state(["s12"])
    path = learning_path(tracker, state)
    names = [p.skill for p in path]
    assert names[-1] == "s12" and set(names) <= tracker.graph.closure(["s12"])
    for i, step in enumerate(path):
        assert step.items_needed > 0
        assert all(pre not in names[i:] for pre in step.prerequisites)
    assert expected_items(0.99, 0.2, 0.95) == 0
    assert expected_items(0.1, 0.4, 0.95) < expected_items(0.1, 0.1, 0.95)


def test_gain_recommendation_is_named_for_the_skill_it_most_helps(tracker: SkillTracker,
                                                                  rng: np.random.Generator) -> None:
    state = tracker.new_state(["s12"])
    for step, item in enumerate(tracker.skill_items[0][:4]):
        tracker.update(state, int(item), 1, time=step * 60.0)
    policy = make_policy("gain", tracker)
    rec = policy.recommend(state, rng)
    m = tracker.mastery(state)
    weight = np.zeros(tracker.n_skills)
    weight[policy.unmastered(state, m)] = 1.0
    per_skill = tracker.skill_gain(state, weight)
    skills = tracker.link_skill[tracker.item_ptr[rec.item_index]: tracker.item_ptr[rec.item_index + 1]]
    assert rec.skill == str(tracker.skill_ids[skills[np.argmax(per_skill[skills])]])
    assert np.isclose(tracker.expected_gain(state, weight)[rec.item_index], per_skill[skills].sum())


def test_gain_policies_plan_with_the_model_they_hold(any_tracker: Tracker, rng: np.random.Generator) -> None:
    """The gain policy's item is among the near-best of the model's own `practice_gain` and is named for
    the skill whose part of that gain is largest."""
    state = any_tracker.new_state(["s06"])
    for step, item in enumerate(any_tracker.skill_items[0][:3]):
        any_tracker.observe(state, int(item), step % 2, step * 60.0)
    policy = make_policy("gain", any_tracker, tolerance=0.9, tiebreak="target")
    rec = policy.recommend(state, rng)
    m = any_tracker.mastery(state)
    weight = np.zeros(any_tracker.n_skills)
    todo = policy.unmastered(state, m)
    weight[todo if len(todo) else np.flatnonzero(state.closure)] = 1.0
    gain = any_tracker.practice_gain(state, weight)
    items = gain.items * policy.inside(state)
    if items.max() > 0:
        assert items[rec.item_index] >= 0.9 * items.max()
        skills = any_tracker.course.skills_of(rec.item_index)
        assert rec.skill == str(any_tracker.skill_ids[skills[np.argmax(gain.skills[skills])]])
    else:
        assert "no item is predicted to raise" in rec.reason
