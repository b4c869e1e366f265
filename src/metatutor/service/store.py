"""The course and the learners in the database: import a course, read every stored response, the course's
resources, the next item for a learner, and deleting a learner with every trace of them."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.learner import CourseMap, SkillGraph, SkillTracker, Tracker
from metatutor.learner import LearnerState as TrackerState
from metatutor.policy import make_policy
from metatutor.policy.base import Recommendation
from metatutor.policy.resources import Resource, ResourceCatalog
from metatutor.service import states
from metatutor.service import tables as t
from metatutor.service.db import scrub
from metatutor.service.pacing import pace
from metatutor.service.schemas import CourseIn
from metatutor.service.versions import TrackerCache, store_tracker


def import_course(session: Session, course: CourseIn, tracker: Tracker | None = None, *,
                  sessions: sessionmaker[Session] | None = None, keep_history: int = 200,
                  inline: int = 2_000) -> tuple[int, Tracker]:
    """Replace the course and activate a learner model for it: `tracker` if given; else the active one
    when it was trained (the meta-learned model keeps what it learned; new items are predicted from their
    skills and their `meta.difficulty`); else a skill tracker with default parameters. The new version and
    the model it stores. With `sessions`, the most recently active learners' states (those a read would
    step in itself: up to `inline` answers) are stepped under the new model first and switch with it
    (`states.prepare`), so their next request has nothing to rebuild."""
    graph = SkillGraph.from_edges(course.prerequisites, course.skills)
    if tracker is None:
        tracker = _trained_for(session, course, graph) or SkillTracker(
            graph=graph, item_ids=[i.id for i in course.items], item_skills=[i.skills for i in course.items])
    prepared = states.prepare(sessions, tracker, max_answers=inline) if sessions is not None else {}
    for table in (t.CourseResource, t.Prerequisite, t.Item, t.Skill):
        session.execute(delete(table))
    session.add_all(t.Skill(id=s) for s in course.skills)
    session.flush()
    session.add_all(t.Prerequisite(prerequisite=a, skill=b) for a, b in graph.edges)
    items = [{"id": i.id, "skills": i.skills, "meta": i.meta or None} for i in course.items]
    for start in range(0, len(items), 500):  # in parts, pausing between them: a course of 16,000 items
        pace()
        session.execute(insert(t.Item), items[start:start + 500])
    session.add_all(t.CourseResource(skill=r.skill, kind=r.kind, title=r.title, url=r.url) for r in course.resources)
    version = store_tracker(session, tracker, before_commit=lambda v: states.store_prepared(
        session, tracker, v, prepared, keep_history=keep_history))
    return version, tracker


def _trained_for(session: Session, course: CourseIn, graph: SkillGraph) -> Tracker | None:
    """The active learner model on the new course, when it is a trained one (not the skill tracker)."""
    trained = session.scalar(select(t.ModelVersion.arrays.is_not(None)).where(
        t.ModelVersion.active.is_(True), t.ModelVersion.kind == "tracker"))
    if not trained:  # no course yet, or the skill tracker (not read: a big course's JSON takes a while)
        return None
    _, current = TrackerCache(ttl=0).get(session)
    return on_course(current, course, graph)


def on_course(tracker: Tracker, course: CourseIn, graph: SkillGraph | None = None) -> Tracker:
    """A trained learner model over every item of `course`: an item it never saw is predicted from its skills
    and its `meta.difficulty` (logits), where given."""
    graph = graph or SkillGraph.from_edges(course.prerequisites, course.skills)
    difficulty = {i.id: float(i.meta["difficulty"]) for i in course.items
                  if isinstance((i.meta or {}).get("difficulty"), int | float)}
    return tracker.with_course(CourseMap(graph, [i.id for i in course.items], [i.skills for i in course.items]),
                               difficulty)


def stored_responses(session: Session) -> Responses:
    """Every stored response as a `Responses` table (skills from the course's items)."""
    skills = {item: sk for item, sk in session.execute(select(t.Item.id, t.Item.skills))}
    rows = session.execute(select(t.Response.learner_id, t.Response.item_id, t.Response.correct,
                                  t.Response.timestamp).order_by(t.Response.learner_id, t.Response.timestamp,
                                                                 t.Response.id)).all()
    if not rows:
        raise ConfigError("no responses stored yet")
    frame = pd.DataFrame(rows, columns=["learner", "item", "correct", "timestamp"])
    frame["correct"] = frame["correct"].astype(int)
    frame["skill"] = [skills.get(i, []) for i in frame["item"]]
    return Responses.from_frame(frame, source="database", merge_multiskill=False)


def catalog(session: Session) -> ResourceCatalog | None:
    """The course's resources (None when it has none)."""
    rows = session.execute(select(t.CourseResource.skill, t.CourseResource.kind, t.CourseResource.title,
                                  t.CourseResource.url).order_by(t.CourseResource.id)).all()
    return ResourceCatalog([Resource(*r) for r in rows]) if rows else None


def recommend(tracker: Tracker, state: TrackerState, learner_id: str, policy: str = "default") -> Recommendation:
    """The next item for a learner; the random draws depend on the learner and their answer count only, so the
    same question gets the same answer after a restart and from every worker."""
    rng = np.random.default_rng([state.answers, zlib.crc32(learner_id.encode())])
    return make_policy(policy, tracker).recommend(state, rng)


def delete_learner(session: Session, learner_id: str) -> None:
    """Every trace of a learner: responses (with their typed answers), states, assessments, hints shown, keys
    and their dashboard sessions, the learner row; then what the rows left in the database files."""
    session.execute(delete(t.Response).where(t.Response.learner_id == learner_id))
    session.execute(delete(t.LearnerState).where(t.LearnerState.learner_id == learner_id))
    session.execute(delete(t.KTState).where(t.KTState.learner_id == learner_id))
    session.execute(delete(t.Assessment).where(t.Assessment.learner_id == learner_id))
    session.execute(delete(t.HintView).where(t.HintView.learner_id == learner_id))
    keys = select(t.ApiKey.id).where(t.ApiKey.role == "learner", t.ApiKey.subject == learner_id)
    session.execute(delete(t.WebSession).where(t.WebSession.key_id.in_(keys)))
    session.execute(delete(t.ApiKey).where(t.ApiKey.role == "learner", t.ApiKey.subject == learner_id))
    session.execute(delete(t.Learner).where(t.Learner.id == learner_id))
    session.commit()
    scrub(session.get_bind().engine)  # what the deleted rows left in the files


def builtin_course(*, n_skills: int = 12, items_per_skill: int = 25, seed: int = 0) -> dict[str, Any]:
    """The simulator's course (skills, prerequisites, items) as the body of POST /api/course."""
    from metatutor.data.simulator import Simulator, SimulatorConfig

    course = Simulator(SimulatorConfig(n_skills=n_skills, items_per_skill=items_per_skill), random_state=seed).course
    return {"skills": list(course.skill_ids), "prerequisites": [list(e) for e in course.prerequisites],
            "items": [{"id": i, "skills": [course.skill_ids[s] for s in sk]}
                      for i, sk in zip(course.item_ids, course.item_skills, strict=True)]}
