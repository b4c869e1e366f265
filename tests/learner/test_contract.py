"""The one contract every learner model (`metatutor.learner.Tracker`) passes: online equals batch, later
answers never move earlier predictions, the state survives JSON, bytes and a saved model, items the
model never saw get predictions from their skills, and an answer costs the same whatever the history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from metatutor.data.responses import Responses
from metatutor.learner import CourseMap, Tracker, load_tracker
from metatutor.learner.registry import tracker_from_bytes, tracker_to_bytes


def _logs(tracker: Tracker, *, learners: int = 4, length: int = 30, seed: int = 0) -> Responses:
    """Random answers to random course items (every item's skills from the course), a minute apart."""
    rng = np.random.default_rng(seed)
    skills = tracker.course.item_skill_names()
    rows = []
    for j in range(learners):
        n = length - 7 * j  # learners of different lengths: the batch pads them
        for t, i in enumerate(rng.integers(tracker.n_items, size=n)):
            rows.append({"learner": f"L{j}", "item": str(tracker.item_ids[i]), "skill": skills[i],
                         "correct": int(rng.random() < 0.6), "timestamp": 1_700_000_000.0 + 60.0 * t})
    return Responses.from_frame(pd.DataFrame(rows))


def _online(tracker: Tracker, responses: Responses) -> tuple[np.ndarray, list[Any]]:
    out, states = np.empty(len(responses)), []
    for j in range(responses.n_learners):
        state = tracker.new_state()
        for r in range(responses.starts[j], responses.starts[j + 1]):
            i = tracker.item_index[str(responses.item_ids[responses.item[r]])]
            out[r] = tracker.p_correct(state, np.array([i]))[0]
            tracker.observe(state, i, int(responses.correct[r]), float(responses.timestamp[r]))  # type: ignore[index]
        states.append(state)
    return out, states


def test_online_equals_batch(any_tracker: Tracker) -> None:
    logs = _logs(any_tracker)
    online, _ = _online(any_tracker, logs)
    batch = any_tracker.predict_responses(logs)
    assert np.isfinite(batch).all() and ((batch > 0) & (batch < 1)).all()
    np.testing.assert_allclose(online, batch, atol=2e-5)
    assert np.std(batch) > 1e-3  # the answers move the predictions


def test_flipping_later_answers_changes_nothing_earlier(any_tracker: Tracker) -> None:
    logs = _logs(any_tracker, seed=1)
    cut = 12
    flipped = logs.correct.copy()
    later = logs.order > cut
    flipped[later] = 1 - flipped[later]
    other = Responses(**{**{f: getattr(logs, f) for f in ("learner", "item", "skill_ptr", "skill", "timestamp",
                                                          "learner_ids", "item_ids", "skill_ids")},
                         "correct": flipped})
    before, after = any_tracker.predict_responses(logs), any_tracker.predict_responses(other)
    np.testing.assert_allclose(before[logs.order <= cut], after[logs.order <= cut], atol=1e-7)
    assert np.abs(before[logs.order > cut + 1] - after[logs.order > cut + 1]).max() > 1e-4  # and they do move later


def test_state_survives_json_bytes_and_a_saved_model(any_tracker: Tracker, tmp_path: Path) -> None:
    logs = _logs(any_tracker, learners=1, length=25, seed=2)
    _, (state,) = _online(any_tracker, logs)
    via_json = any_tracker.state_from_dict(json.loads(json.dumps(any_tracker.state_to_dict(state))))
    via_bytes = any_tracker.state_from_bytes(any_tracker.state_to_bytes(state))
    loaded = load_tracker(any_tracker.save(tmp_path / "model"))
    assert type(loaded) is type(any_tracker)
    from_blob = tracker_from_bytes(tracker_to_bytes(any_tracker))
    in_loaded = loaded.state_from_dict(any_tracker.state_to_dict(state))
    for model, other in ((any_tracker, via_json), (any_tracker, via_bytes), (loaded, in_loaded), (from_blob, in_loaded)):
        np.testing.assert_array_equal(model.p_correct(other), any_tracker.p_correct(state))
        np.testing.assert_array_equal(model.mastery(other), any_tracker.mastery(state))
        np.testing.assert_array_equal(model.mastery_sd(other), any_tracker.mastery_sd(state))
        assert other.answers == state.answers and other.history == state.history
    any_tracker.observe(state, 3, 1, state.time + 60)  # and they go on the same way
    loaded.observe(in_loaded, 3, 1, in_loaded.time + 60)
    np.testing.assert_array_equal(loaded.p_correct(in_loaded), any_tracker.p_correct(state))
    with pytest.raises(Exception, match="learner"):
        any_tracker.state_from_bytes(b"\xff not a state")


def test_items_never_seen_get_predictions_from_their_skills(any_tracker: Tracker) -> None:
    c = any_tracker.course
    skills = c.item_skill_names()
    a, b = str(c.skill_ids[0]), str(c.skill_ids[-1])
    bigger = CourseMap(c.graph, [*c.item_ids, "new-a", "new-ab"], [*skills, [a], [a, b]])
    model = any_tracker.with_course(bigger)
    state = model.replay([(str(c.item_ids[i]), 1, 60.0 * t) for t, i in enumerate(c.skill_items[0][:6])])
    p = model.p_correct(state)
    assert p.shape == (c.n_items + 2,) and np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    by_skills = model.p_correct_skills(state, [[0], [0, c.n_skills - 1]])
    np.testing.assert_allclose(p[-2:], by_skills, atol=1e-5)
    assert abs(p[-2] - p[-1]) > 1e-4  # their skills matter
    # the known items keep their predictions in the bigger course
    old_state = any_tracker.replay([(str(c.item_ids[i]), 1, 60.0 * t) for t, i in enumerate(c.skill_items[0][:6])])
    np.testing.assert_allclose(p[:-2], any_tracker.p_correct(old_state), atol=1e-6)


def test_mastery_uncertainty_and_the_effect_of_practice(any_tracker: Tracker) -> None:
    state = any_tracker.new_state()
    m0 = any_tracker.mastery(state)
    item = int(any_tracker.skill_items[0][0])
    for t in range(8):
        any_tracker.observe(state, item, 1, 60.0 * t)
    m, sd = any_tracker.mastery_belief(state)
    assert m.shape == sd.shape == (any_tracker.n_skills,)
    assert ((m >= 0) & (m <= 1)).all() and (sd >= 0).all() and np.isfinite(sd).all()
    assert m[0] > m0[0]  # right answers raise the skill's mastery
    goals = any_tracker.skill_items[0]
    effect = any_tracker.practice_effect(state, item, goals)
    assert effect.right.shape == effect.wrong.shape == effect.now.shape == (len(goals),)
    own = int(np.flatnonzero(goals == item)[0])
    assert effect.right[own] > effect.wrong[own]  # a right answer predicts better than a wrong one
    assert 0 < effect.p_item < 1
    np.testing.assert_allclose(effect.now, any_tracker.p_correct(state, goals))


def test_an_answer_costs_the_same_whatever_the_history(any_tracker: Tracker) -> None:
    """The state (beyond the capped history and the per-skill cards) does not grow with the answers."""

    def size(state: Any) -> int:
        data = any_tracker.state_to_dict(state, keep_history=1)
        return len(json.dumps({k: v for k, v in data.items() if k not in ("history", "cards")}).split(","))

    state = any_tracker.new_state()
    items = np.random.default_rng(3).integers(any_tracker.n_items, size=120)
    sizes = []
    for t, i in enumerate(items):
        any_tracker.observe(state, int(i), t % 3 != 0, 60.0 * t)
        if t in (45, 119):
            sizes.append(size(state))
    assert sizes[0] == sizes[1] and state.answers == 120


def test_batch_helpers_serve_many_learners(any_tracker: Tracker) -> None:
    states = [any_tracker.new_state() for _ in range(3)]
    any_tracker.observe_many(states, np.array([0, 1, 2]), np.array([1, 0, 1]), np.array([0.0, 0.0, 0.0]))
    p = any_tracker.p_correct_many(states)
    m = any_tracker.mastery_many(states)
    assert p.shape == (3, any_tracker.n_items) and m.shape == (3, any_tracker.n_skills)
    np.testing.assert_array_equal(p[1], any_tracker.p_correct(states[1]))


def test_a_predicted_difficulty_places_a_new_item(any_tracker: Tracker) -> None:
    c = any_tracker.course
    a = str(c.skill_ids[0])
    bigger = CourseMap(c.graph, [*c.item_ids, "easy", "hard"], [*c.item_skill_names(), [a], [a]])
    model = any_tracker.with_course(bigger, difficulty={"easy": -1.5, "hard": 1.5})
    state = model.new_state()
    p = model.p_correct(state)
    assert p[-2] > p[-1] + 0.1  # the predicted difficulty counts for an item never seen
    logs = _logs(model, learners=2, length=12, seed=4)
    online, _ = _online(model, logs)
    np.testing.assert_allclose(online, model.predict_responses(logs), atol=2e-5)


def test_a_blob_with_paths_is_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../learner.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(Exception, match="not a saved learner model"):
        tracker_from_bytes(buf.getvalue())
    with pytest.raises(Exception, match="not a saved learner model"):
        tracker_from_bytes(b"plain bytes")
