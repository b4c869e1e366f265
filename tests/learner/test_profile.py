from __future__ import annotations

import json

import numpy as np

from metatutor.learner import LearnerProfiles, Tracker


def test_profiles_keep_aggregates_of_enough_learners_and_place_a_new_one(meta_tracker: Tracker) -> None:
    profiles = meta_tracker.profiles  # type: ignore[attr-defined]
    assert isinstance(profiles, LearnerProfiles)
    assert (profiles.counts >= 20).all() and profiles.centres.shape == (len(profiles.counts), meta_tracker.n_skills)
    assert ((profiles.later >= 0) & (profiles.later <= 1)).all()
    saved = json.dumps(profiles.to_dict())
    assert set(json.loads(saved)) == {"centres", "counts", "later", "skill_ids", "answers", "later_answers"}
    assert LearnerProfiles.from_dict(json.loads(saved)).match(profiles.centres[0], answers=10).profile == 1
    # a learner placed from their start: provisional before the profiles' number of answers
    state = meta_tracker.new_state()
    for t in range(4):
        meta_tracker.observe(state, t, 1, 60.0 * t)
    early = meta_tracker.profile(state)
    assert early is not None and early.provisional and "is starting like" in early.text
    for t in range(4, 12):
        meta_tracker.observe(state, t, 1, 60.0 * t)
    match = meta_tracker.profile(state)
    assert match is not None and not match.provisional and match.text.startswith("started like")
    d = np.sqrt(((profiles.centres - state.belief.start) ** 2).mean(1))
    assert match.profile == int(np.argmin(d)) + 1 and match.learners == int(profiles.counts[match.profile - 1])
    assert json.loads(json.dumps(match.to_dict()))["text"] == match.text


def test_the_skill_tracker_has_no_profiles(tracker: Tracker) -> None:
    assert tracker.profile(tracker.new_state()) is None
