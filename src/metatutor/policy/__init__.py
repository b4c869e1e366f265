"""Practice policies: what a learner should do next, with the reason, on a skill graph. Every policy
plans with a learner model through the `metatutor.learner.Tracker` interface only.

Example:
    >>> import numpy as np
    >>> from metatutor.data.simulator import Simulator
    >>> from metatutor.learner import SkillTracker, course_graph
    >>> sim = Simulator(random_state=0)
    >>> tracker = SkillTracker.fit(sim.simulate(200, 40), course_graph(sim.course))
    >>> state = tracker.new_state()
    >>> make_policy("default", tracker).recommend(state, np.random.default_rng(0)).policy
    'default'
"""

from __future__ import annotations

from typing import Any

from metatutor.errors import ConfigError
from metatutor.learner import Tracker
from metatutor.policy.base import Policy, Recommendation
from metatutor.policy.baselines import CurriculumPolicy, RandomPolicy
from metatutor.policy.default import DefaultPolicy
from metatutor.policy.explore import ThompsonPolicy
from metatutor.policy.gain import ExpectedGainPolicy
from metatutor.policy.mastery import MasteryPolicy
from metatutor.policy.review import ReviewPolicy
from metatutor.policy.target import TargetDifficultyPolicy

POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (RandomPolicy, CurriculumPolicy, MasteryPolicy, TargetDifficultyPolicy, ExpectedGainPolicy,
                        ThompsonPolicy, ReviewPolicy, DefaultPolicy)
}


def make_policy(name: str, tracker: Tracker, **settings: Any) -> Policy:
    """A policy by name: random, curriculum, mastery, target, gain, thompson, review, default."""
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
    return POLICIES[name](tracker, **settings)


__all__ = ["POLICIES", "Policy", "Recommendation", "make_policy"]
