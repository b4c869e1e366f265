"""A learner's plan on the practice page: the next item (never one of a skill the mastery table shows as
blocked), the next few items and skills and why, and what changed after an answer.

The policy plans on the goals and everything they require; a skill whose prerequisites are unmastered is
only slow to learn for it, so it could propose one, while the learner's page marks that skill blocked and
the learning path starts elsewhere. Here the policy sees only the skills that are open (mastered, or
with every prerequisite mastered) whenever any are, so the page, the path and the next item agree."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.policy.base import Recommendation
from metatutor.policy.path import learning_path
from metatutor.service import store
from metatutor.service.web.wording import skill_name, student_reason


def open_skills(tracker: Tracker, mastery: np.ndarray) -> np.ndarray:
    """(S,) bool: skills whose prerequisites are all mastered (or that have none)."""
    done = mastery >= tracker.mastery_threshold
    return np.array([bool(done[tracker.prereq[k]].all()) for k in range(tracker.n_skills)], dtype=bool)


def recommend(tracker: Tracker, state: LearnerState, learner: str) -> Recommendation:
    """The default policy's next item among the open skills of the goals (all of them when none is open),
    never one of the learner's last `RECENT` answers when the skill has another."""
    m = tracker.mastery(state)
    mastered = m >= tracker.mastery_threshold
    ready = open_skills(tracker, m)
    todo = state.closure & ~mastered
    if (todo & ready).any() and (todo & ~ready).any():
        view = tracker.copy_state(state)
        view.closure = state.closure & (mastered | ready)
        return fresh(tracker, state, store.recommend(tracker, view, learner))
    return fresh(tracker, state, store.recommend(tracker, state, learner))


RECENT = 20  # answers after which an item may come back


def fresh(tracker: Tracker, state: LearnerState, rec: Recommendation) -> Recommendation:
    """`rec`, or when its item was among the last `RECENT` answers, the item of the same skill not answered
    recently whose predicted success is nearest (the policy plans on skills; seeing the question just
    answered again teaches little and reads as a fault)."""
    seen = {item for item, _, _ in state.history[-RECENT:]}
    found = np.flatnonzero(tracker.skill_ids == rec.skill)
    if rec.item_index not in seen or not len(found):
        return rec
    candidates = np.array([i for i in tracker.skill_items[int(found[0])] if i not in seen], dtype=np.int64)
    if not len(candidates):
        return rec
    p = tracker.p_correct(state, candidates)
    pick = int(np.argmin(np.abs(p - rec.predicted)))
    item = int(candidates[pick])
    name = str(tracker.item_ids[item])
    return replace(rec, item=name, item_index=item, predicted=float(p[pick]),
                   reason=f"{rec.reason} (item {name} instead of {rec.item}, answered recently: the same skill, "
                          f"predicted {float(p[pick]):.0%} success)")


@dataclass
class Plan:
    """The next items (each assuming the one before goes well) and the skills ahead, with why."""

    items: list[dict[str, Any]]
    skills: list[dict[str, Any]]
    mastered: set[str] = field(default_factory=set)
    ready: set[str] = field(default_factory=set)

    @property
    def first(self) -> Recommendation:
        rec: Recommendation = self.items[0]["rec"]
        return rec


def make_plan(tracker: Tracker, state: LearnerState, learner: str, *, n_items: int = 3, n_skills: int = 4) -> Plan:
    m = tracker.mastery(state)
    threshold = tracker.mastery_threshold
    items: list[dict[str, Any]] = []
    view = tracker.copy_state(state)
    for _ in range(n_items * 3):
        rec = recommend(tracker, view, learner)
        if rec.item not in {i["rec"].item for i in items}:
            items.append({"rec": rec, "why": student_reason(rec, tracker, view) if not items else
                          "if the one before goes well"})
        if len(items) == n_items:
            break
        tracker.observe(view, rec.item_index, 1)
    ready = open_skills(tracker, m)
    skills = []
    for step in learning_path(tracker, state)[:n_skills]:
        k = int(np.flatnonzero(tracker.skill_ids == step.skill)[0])
        if state.count[k]:
            why = "you are working on it"
        elif not step.prerequisites:
            why = "it needs nothing before it"
        elif ready[k]:
            why = "its prerequisites are done"
        else:
            why = "after " + ", ".join(skill_name(s) for s in step.prerequisites[:3])
        skills.append({"skill": step.skill, "mastery": step.mastery, "questions": step.items_needed, "why": why})
    names = [str(s) for s in tracker.skill_ids]
    return Plan(items, skills, {names[k] for k in np.flatnonzero(m >= threshold)},
                {names[k] for k in np.flatnonzero(ready & state.closure & (m < threshold))})


def plan_changes(before: Plan, after: Plan) -> list[str]:
    """What an answer changed in the plan, in the learner's words."""
    out = [f"You mastered {skill_name(s)}." for s in sorted(after.mastered - before.mastered)]
    out += [f"{skill_name(s)} needs another look." for s in sorted(before.mastered - after.mastered)]
    out += [f"{skill_name(s)} is open now: you mastered what it builds on." for s in sorted(after.ready - before.ready)
            if s not in after.mastered]
    was = {s["skill"]: s["questions"] for s in before.skills}
    for s in after.skills:
        if s["skill"] in was and was[s["skill"]] != s["questions"]:
            out.append(f"{skill_name(s['skill'])}: about {was[s['skill']]} → {s['questions']} questions to go.")
    if before.skills and after.skills and before.skills[0]["skill"] != after.skills[0]["skill"]:
        out.append(f"Next up: {skill_name(after.skills[0]['skill'])} (before: {skill_name(before.skills[0]['skill'])}).")
    if not out and after.skills:
        first = after.skills[0]
        out.append(f"No change: {skill_name(first['skill'])}, about {first['questions']} questions to go.")
    return out
