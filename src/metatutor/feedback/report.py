"""Reports for learners and teachers: what is mastered, what is weak or blocked, what to do next and why.

`learner_report` reads one learner's state; `class_report` a class of them. Both return dataclasses with
`to_dict()` (JSON for the service and its Vega-Lite heatmap) and `to_markdown()` (docs, CLI).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Policy, Recommendation
from metatutor.policy.path import PathStep, learning_path
from metatutor.policy.resources import Resource, ResourceCatalog

WEAK = 0.6  # below this mastery a practised skill counts as weak


@dataclass(frozen=True)
class SkillStatus:
    skill: str
    mastery: float
    uncertainty: float  # sd of the mastery belief (shrinks with evidence)
    status: str  # mastered | learning | weak | blocked | not started
    answers: int
    wrong: int
    blocked_by: tuple[str, ...] = ()


@dataclass
class LearnerReport:
    learner: str
    answers: int
    accuracy: float | None
    ability: float
    skills: list[SkillStatus]
    weak_skills: list[str]
    blocked: dict[str, list[str]]
    frequent_mistakes: list[dict[str, Any]]
    next_steps: list[Recommendation]
    path: list[PathStep]
    resources: list[Resource] = field(default_factory=list)
    profile: dict[str, Any] | None = None  # "started like these learners" (`ProfileMatch.to_dict()`), when the model has profiles

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["next_steps"] = [r.to_dict() for r in self.next_steps]
        return out

    def to_markdown(self) -> str:
        acc = "–" if self.accuracy is None else f"{self.accuracy:.0%}"
        lines = [f"### Learner {self.learner}: {self.answers} answers, {acc} correct", "",
                 "| skill | mastery | ± | status | answers | wrong |", "|---|---|---|---|---|---|"]
        for s in self.skills:
            status = s.status + (f" (needs {', '.join(s.blocked_by)})" if s.blocked_by else "")
            lines.append(f"| {s.skill} | {s.mastery:.2f} | {s.uncertainty:.2f} | {status} | {s.answers} | {s.wrong} |")
        lines += ["", f"**Weak skills:** {', '.join(self.weak_skills) or 'none'}", "",
                  "**Next steps** (each after the one before, assuming it goes well):"]
        lines += [f"1. {r.reason}" for r in self.next_steps]
        if self.path:
            lines += ["", "**Path to the goals:** " + " → ".join(f"{p.skill} (~{p.items_needed} items)" for p in self.path)]
        if self.frequent_mistakes:
            lines += ["", "**Frequent mistakes:** " + ", ".join(f"{m['item']} ({m['wrong']}×)" for m in self.frequent_mistakes)]
        if self.resources:
            lines += ["", "**Resources:** " + "; ".join(f"{r.kind} '{r.title}' ({r.skill})" for r in self.resources)]
        if self.profile:
            lines += ["", f"**Profile:** {self.profile['text']}"]
        return "\n".join(lines) + "\n"


def skill_statuses(tracker: Tracker, state: LearnerState) -> list[SkillStatus]:
    """Every skill of the goals' closure (all skills when the closure is empty), in prerequisite order."""
    threshold = tracker.mastery_threshold
    m, spread = tracker.mastery_belief(state)
    index = {s: k for k, s in enumerate(tracker.graph.skills)}
    names = [str(tracker.skill_ids[k]) for k in np.flatnonzero(state.closure)] or list(tracker.graph.skills)
    out = []
    for name in tracker.graph.order(names):
        k = index[name]
        n = int(state.count[k])
        sd = float(spread[k])
        blockers = tuple(str(tracker.skill_ids[p]) for p in tracker.prereq[k] if m[p] < threshold)
        if m[k] >= threshold:
            status, blockers = "mastered", ()
        elif blockers:
            status = "blocked"
        elif n == 0:
            status = "not started"
        else:
            status = "weak" if m[k] < WEAK else "learning"
        out.append(SkillStatus(name, float(m[k]), sd, status, n, int(state.wrong[k]), blockers))
    return out


def learner_report(tracker: Tracker, state: LearnerState, *, learner: str = "", policy: Policy | None = None,
                   rng: np.random.Generator | None = None, catalog: ResourceCatalog | None = None,
                   n_steps: int = 3) -> LearnerReport:
    """One learner's report; `policy` (default: the default policy) proposes the next `n_steps` items."""
    from metatutor.policy import make_policy

    skills = skill_statuses(tracker, state)
    weak = [s.skill for s in sorted(skills, key=lambda s: s.mastery) if s.status == "weak"]
    blocked = {s.skill: list(s.blocked_by) for s in skills if s.status == "blocked"}
    wrong = Counter(int(i) for i, y, _ in state.history if not y)
    mistakes = [{"item": str(tracker.item_ids[i]), "wrong": n} for i, n in wrong.most_common(5) if n >= 2]
    policy = policy or make_policy("default", tracker)
    rng = rng or np.random.default_rng(0)
    steps: list[Recommendation] = []
    plan = tracker.copy_state(state)  # the steps after the first assume the ones before went well
    for _ in range(n_steps * 3):
        rec = policy.recommend(plan, rng)
        if rec.item not in {r.item for r in steps}:
            steps.append(rec)
        if len(steps) == n_steps:
            break
        tracker.observe(plan, rec.item_index, 1)
    answers = state.answers  # all of them (a stored state keeps only the last in its history)
    accuracy = float(np.mean([y for _, y, _ in state.history])) if answers else None
    match = tracker.profile(state)
    return LearnerReport(learner, answers, accuracy, tracker.ability(state), skills, weak, blocked, mistakes, steps,
                         learning_path(tracker, state), catalog.recommend(weak) if catalog else [],
                         None if match is None else match.to_dict())


def replay(tracker: Tracker, history: list[tuple[str, int, float]], goals: list[str] | None = None) -> LearnerState:
    """A learner's state from logged `(item id, correct, time)` answers (unknown items are skipped)."""
    return tracker.replay(history, goals)
