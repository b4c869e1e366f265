"""The audit's simulated studies: a bias injected into group B (items harder than the bank says in the adaptive
test; mastery overestimated in practice) is found, and the unbiased control shows no significant gap."""

from __future__ import annotations

import numpy as np
import pytest

from metatutor.evaluation.fairness_sim import (
    BiasedTracker,
    SimulationConfig,
    cat_by_group,
    mean_gap_test,
    practice_by_group,
)
from metatutor.learner import SkillTracker


def test_mean_gap_test() -> None:
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1], 50)
    shifted = rng.normal(size=100) + 2.0 * group
    out = mean_gap_test(shifted, group, permutations=99, rng=rng)
    assert out["n"] == [50, 50] and out["difference"] > 1.5 and out["p"] == pytest.approx(0.01)
    same = np.tile([0.0, 1.0, 2.0, 3.0], 24)  # both groups hold the same values: difference 0, p = 1
    assert mean_gap_test(same, np.tile(np.repeat([0, 1], 4), 12), permutations=99, rng=rng)["p"] == 1.0


def test_cat_finds_dif_against_group_b_and_nothing_without_it() -> None:
    config = SimulationConfig(learners=160, length=12, bank=150, permutations=199)
    control = cat_by_group(config)["by_split"]["group"]
    biased = cat_by_group(config, dif=1.0)["by_split"]["group"]
    assert control["abs_error_at_12"]["p"] > 0.05 and control["error_at_12"]["p"] > 0.05
    assert biased["error_at_12"]["p"] < 0.01 and biased["error_at_12"]["difference"] < -0.5  # B underestimated
    assert biased["abs_error_at_12"]["p"] < 0.01


def test_biased_tracker_inflates_mastery_only(tracker: SkillTracker) -> None:
    state = tracker.new_state()
    tracker.observe(state, 0, 0, 0.0)
    wrapped = BiasedTracker(tracker, 2.0)
    m, p = tracker.beliefs(state)
    m2, p2 = wrapped.beliefs(state)  # type: ignore[attr-defined]
    assert np.all(m2 > m) and np.array_equal(p, p2)
    assert wrapped.n_items == tracker.n_items  # everything else is the tracker's


def test_practice_finds_overestimated_mastery_of_group_b() -> None:
    config = SimulationConfig(learners=70, max_items=120, train_learners=200, permutations=199)
    control = practice_by_group(config)["by_split"]["group"]
    biased = practice_by_group(config, mastery_shift=4.0)["by_split"]["group"]
    assert control["items_to_mastery"]["p"] > 0.05
    assert biased["items_to_mastery"]["difference"] > 10 and biased["items_to_mastery"]["p"] < 0.05
    assert biased["items_to_mastery"]["mean"][0] == control["items_to_mastery"]["mean"][0]  # group A untouched
