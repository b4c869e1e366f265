"""Which learners a teacher should act on: those stuck now, and those far behind their class.

Low mastery alone flags every learner of a new class, and a small mean rise over a course of hundreds of
skills flags every learner of a large one (on a 221-skill course, 12 of 12 as "stalled: +0.001 mastery").
So the rule looks only at learners with enough answers to tell, and at what they worked on recently:

* stuck: at most `stuck_share` right among their last `window` answers, while the mastery of the skills
  those answers practised rose less than `stall_gain` (a learner who is wrong but learning is not stuck);
  before the model can tell progress (too few answers), at most `stuck_share_unknown` right;
* behind: after at least `2 · min_answers` answers, at most `behind_share` as many goal skills mastered as
  the class median (among learners with enough answers), when that median is at least `min_median` (a
  count, so it means the same on a course of 12 skills and of 200).

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> from metatutor.learner import SkillTracker, course_graph
    >>> sim = Simulator(random_state=0)
    >>> tracker = SkillTracker.fit(sim.simulate(100, 30), course_graph(sim.course))
    >>> states = {"new": tracker.new_state()}
    >>> at_risk(tracker, states)
    []
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metatutor.learner import LearnerState, Tracker


@dataclass(frozen=True)
class RiskRule:
    min_answers: int = 10  # fewer answers: too early to tell
    window: int = 10  # the recent answers looked at
    stuck_share: float = 0.3  # share right in the window at or below this ...
    stall_gain: float = 0.05  # ... with the practised skills' mastery rising less than this: stuck
    stuck_share_unknown: float = 0.2  # ... or at or below this while the progress is unknown
    behind_share: float = 0.5  # at most this share of the class median's mastered goal skills ...
    min_median: int = 3  # ... when the median learner has mastered at least this many: behind


@dataclass(frozen=True)
class AtRisk:
    learner: str
    reason: str  # "stuck" | "behind"
    why: str  # for the teacher
    mastery: float  # mean mastery of the goals
    recent_share: float  # share right among the recent answers
    skills: tuple[str, ...]  # the skills of the recent answers


def _goals(tracker: Tracker, state: LearnerState) -> np.ndarray:
    return state.closure if state.closure.any() else np.ones(tracker.n_skills, dtype=bool)


def goal_level(tracker: Tracker, state: LearnerState) -> float:
    """The mean mastery of the goals and their prerequisites."""
    return float(tracker.mastery(state)[_goals(tracker, state)].mean())


def goals_mastered(tracker: Tracker, state: LearnerState) -> int:
    return int((tracker.mastery(state)[_goals(tracker, state)] >= tracker.mastery_threshold).sum())


def at_risk(tracker: Tracker, states: dict[str, LearnerState], rule: RiskRule | None = None) -> list[AtRisk]:
    """The learners to act on, stuck ones first, then by how far behind they are."""
    rule = rule or RiskRule()
    enough = {name: s for name, s in states.items() if s.answers >= rule.min_answers and s.history}
    done = {name: goals_mastered(tracker, s) for name, s in enough.items()}
    median = float(np.median(list(done.values()))) if done else 0.0
    out = []
    for name, state in enough.items():
        recent = state.history[-rule.window:]
        share = float(np.mean([y for _, y, _ in recent]))
        practised = np.zeros(tracker.n_skills, dtype=bool)
        for item, _, _ in recent:
            practised[tracker.course.skills_of(item)] = True
        names = tuple(str(tracker.skill_ids[k]) for k in np.flatnonzero(practised))
        progress = tracker.progress(state, practised)
        gain = None if progress is None else progress[1]
        level = goal_level(tracker, state)
        if (share <= rule.stuck_share_unknown if gain is None else share <= rule.stuck_share and gain < rule.stall_gain):
            rising = "" if gain is None else f", mastery of those skills {gain:+.2f} meanwhile"
            out.append(AtRisk(name, "stuck", f"{round((1 - share) * len(recent))} of the last {len(recent)} answers "
                              f"wrong{rising}", level, share, names))
        elif (state.answers >= 2 * rule.min_answers and median >= rule.min_median
              and done[name] <= rule.behind_share * median):
            out.append(AtRisk(name, "behind", f"{done[name]} skills mastered against the class median of {median:g}",
                              level, share, names))
    return sorted(out, key=lambda r: (r.reason != "stuck", r.mastery))
