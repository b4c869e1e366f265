"""The learner model behind every decision: one interface (`Tracker`), the course structure it serves
(`CourseMap`, `SkillGraph`), one learner's state (`LearnerState`), and its implementations:
`MetaTracker` (meta-learned over learners-as-tasks on the population DKT; the default) and
`SkillTracker` (hand-built BKT family; the baseline). `fit_tracker`, `load_tracker` and
`tracker_from_bytes` make one by name or read a saved one without knowing which it is.

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> sim = Simulator(random_state=0)
    >>> tracker = SkillTracker.fit(sim.simulate(200, 40), course_graph(sim.course))
    >>> state = tracker.new_state()
    >>> tracker.observe(state, 0, 1, 0.0)
    >>> tracker.p_correct(state).shape == (tracker.n_items,)
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from metatutor.learner.base import Gain, PracticeEffect, Tracker
from metatutor.learner.course import CourseMap
from metatutor.learner.graph import SkillGraph, course_graph
from metatutor.learner.profile import LearnerProfiles, ProfileMatch
from metatutor.learner.registry import DEFAULT_TRACKER, TRACKERS, fit_tracker, load_tracker, tracker_from_bytes
from metatutor.learner.skill_tracker import SkillTracker, TrackerConfig
from metatutor.learner.state import DAY, LearnerState

if TYPE_CHECKING:
    from metatutor.learner.meta_tracker import MetaTracker


def __getattr__(name: str) -> Any:
    # the meta-learned tracker needs torch, which the service's skill-tracker paths never load
    if name == "MetaTracker":
        return importlib.import_module("metatutor.learner.meta_tracker").MetaTracker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DAY", "DEFAULT_TRACKER", "TRACKERS", "CourseMap", "Gain", "LearnerProfiles", "LearnerState",
           "MetaTracker", "PracticeEffect", "ProfileMatch", "SkillGraph", "SkillTracker", "Tracker", "TrackerConfig",
           "course_graph", "fit_tracker", "load_tracker", "tracker_from_bytes"]
