"""What the routes do with the database: import a course, keep the active learner model, ingest
responses idempotently and update each learner's stored state online (one tracker step per new
response; the history is never replayed on the request path), delete a learner entirely."""

from __future__ import annotations

import math
import random
import time
import zlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.feedback.report import replay
from metatutor.policy import make_policy
from metatutor.policy.base import Recommendation
from metatutor.policy.graph import SkillGraph
from metatutor.policy.resources import Resource, ResourceCatalog
from metatutor.policy.tracker import LearnerState as TrackerState
from metatutor.policy.tracker import SkillTracker
from metatutor.service import tables as t
from metatutor.service.db import write_lock
from metatutor.service.schemas import CourseIn, ResponseIn

T = TypeVar("T")


class ActiveVersionCache(Generic[T]):
    """The active model version of one kind, built from its stored row only when the active version
    changes. Which version is active is read from the database at most every `ttl` seconds (a switch
    made by another worker process reaches this one within `ttl`; one made here, at once: `invalidate`)."""

    def __init__(self, kind: str, build: Callable[[Session, int], T], missing: Callable[[], Exception],
                 ttl: float = 1.0) -> None:
        self.kind, self.build, self.missing, self.ttl = kind, build, missing, ttl
        self.version: int | None = None
        self.model: T | None = None
        self._checked = -math.inf

    def invalidate(self) -> None:
        self._checked = -math.inf

    def get(self, session: Session) -> tuple[int, T]:
        now = time.monotonic()
        if self.model is not None and self.version is not None and now - self._checked < self.ttl:
            return self.version, self.model
        active = session.scalar(select(t.ModelVersion.id).where(t.ModelVersion.active.is_(True),
                                                                t.ModelVersion.kind == self.kind))
        if active is None:
            raise self.missing()
        if active != self.version or self.model is None:  # the stored model is read only on a switch
            self.model, self.version = self.build(session, active), active
        self._checked = now
        return active, self.model


def _tracker(session: Session, version: int) -> SkillTracker:
    params = session.scalar(select(t.ModelVersion.params).where(t.ModelVersion.id == version))
    assert params is not None
    return SkillTracker.from_dict(params)


class TrackerCache(ActiveVersionCache[SkillTracker]):
    """The active skill tracker (see `ActiveVersionCache`)."""

    def __init__(self, ttl: float = 1.0) -> None:
        super().__init__("tracker", _tracker, lambda: ConfigError("no course loaded yet: POST /api/course first"), ttl)


def import_course(session: Session, course: CourseIn, tracker: SkillTracker | None = None) -> int:
    """Replace the course and activate a tracker for it (default parameters unless one is given)."""
    graph = SkillGraph.from_edges(course.prerequisites, course.skills)
    tracker = tracker or SkillTracker(graph=graph, item_ids=[i.id for i in course.items],
                                      item_skills=[i.skills for i in course.items])
    for table in (t.CourseResource, t.Prerequisite, t.Item, t.Skill):
        session.execute(delete(table))
    session.add_all(t.Skill(id=s) for s in course.skills)
    session.flush()
    session.add_all(t.Prerequisite(prerequisite=a, skill=b) for a, b in graph.edges)
    session.add_all(t.Item(id=i.id, skills=i.skills, meta=i.meta or None) for i in course.items)
    session.add_all(t.CourseResource(skill=r.skill, kind=r.kind, title=r.title, url=r.url) for r in course.resources)
    return activate(session, "tracker", tracker.to_dict())


def activate(session: Session, kind: str, params: dict[str, Any], *, info: dict[str, Any] | None = None,
             active: bool = True, arrays: bytes | None = None) -> int:
    """Store a new model version of `kind`, the active one unless `active=False` (old ones stay, inactive);
    `arrays`: a KT model's bytes."""
    version = t.ModelVersion(kind=kind, params=params, active=False, info=info, created=time.time(), arrays=arrays)
    session.add(version)
    session.flush()
    if active:
        switch(session, version.id)
    session.commit()
    return version.id


def switch(session: Session, version_id: int) -> t.ModelVersion:
    """Make a stored version the active one of its kind, in one transaction. Learners' states under the old
    version are rebuilt from their stored responses when next needed (`load_state`)."""
    row = session.get(t.ModelVersion, version_id)
    if row is None:
        raise ConfigError(f"no model version {version_id}")
    session.execute(update(t.ModelVersion).where(t.ModelVersion.kind == row.kind, t.ModelVersion.id != row.id)
                    .values(active=False))
    row.active = True
    return row


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


# Core tables for the busiest statements: they skip the ORM's per-statement work
STATES: Table = t.LearnerState.__table__  # type: ignore[assignment]
RESPONSES: Table = t.Response.__table__  # type: ignore[assignment]


# The answer path's statements, built once: building one per request (clauses, coercions) cost about as
# much as running it on SQLite (130 against 50 µs a lookup)
_STATE_ROW = select(STATES.c.model_version, STATES.c.state, STATES.c.answers).where(
    STATES.c.learner_id == bindparam("b_learner"))
_STATE_ROW_LOCKED = _STATE_ROW.with_for_update()
_SEEN_EVENTS = select(RESPONSES.c.event_id).where(RESPONSES.c.learner_id == bindparam("b_learner"),
                                                  RESPONSES.c.event_id.in_(bindparam("b_events", expanding=True)))
_INSERT_RESPONSES = insert(RESPONSES)
_INSERT_STATE = insert(STATES)
_UPDATE_STATE = update(STATES).where(  # only if no other request stored a step since the read
    STATES.c.learner_id == bindparam("b_learner"), STATES.c.answers == bindparam("b_answers"),
    STATES.c.model_version == bindparam("b_version"))


def _state_row(session: Session, learner_id: str, *, lock: bool = False) -> Any:
    return session.execute(_STATE_ROW_LOCKED if lock else _STATE_ROW, {"b_learner": learner_id}).first()


def load_state(session: Session, tracker: SkillTracker, version: int, learner_id: str,
               row: Any = None) -> TrackerState:
    """The learner's stored state under the active model. After a switch of model version the state is
    rebuilt from the learner's stored responses (once: the next answer stores it under the new version)."""
    return current_state(session, tracker, version, learner_id, row)[0]


def current_state(session: Session, tracker: SkillTracker, version: int, learner_id: str,
                  row: Any = None) -> tuple[TrackerState, int]:
    """(state, number of stored answers) under `version`; the state keeps only the last answers in its
    history, the count is all of them."""
    row = _state_row(session, learner_id) if row is None else row
    if row is not None and row.model_version == version:
        return tracker.state_from_dict(row.state), row.answers
    if row is None:  # nothing stored yet
        return tracker.new_state(), 0
    history = session.execute(select(t.Response.item_id, t.Response.correct, t.Response.timestamp)
                              .where(t.Response.learner_id == learner_id)
                              .order_by(t.Response.timestamp, t.Response.id)).all()
    return replay(tracker, [(item, int(correct), when) for item, correct, when in history]), len(history)


def ingest(session: Session, tracker: SkillTracker, version: int, learner_id: str, events: list[ResponseIn], *,
           keep_history: int, attempts: int = 30,
           on_loaded: Callable[[TrackerState], None] | None = None) -> tuple[dict[str, Any], TrackerState]:
    """Store new responses (a replayed event id is skipped) and step the learner's state once per new one.
    Returns the counts and the new state. The state row is written only if no other request changed it
    since it was read (its answer count is the check); otherwise the whole step is redone. `on_loaded`
    sees the stored state before it is stepped (on a redo, again: the last call is the one that counts),
    so a caller can show what changed without reading the state twice."""
    unknown_items = sorted({e.item for e in events if e.item not in tracker.item_index})
    if unknown_items:
        raise ConfigError(f"unknown item(s) {', '.join(unknown_items[:10])}")
    for attempt in range(attempts):
        done = _ingest_once(session, tracker, version, learner_id, events, keep_history, on_loaded)
        if done is not None:
            return done
        time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # let the other request finish
    raise ConfigError(f"learner {learner_id!r} is being updated by other requests; retry")


def _ingest_once(session: Session, tracker: SkillTracker, version: int, learner_id: str, events: list[ResponseIn],
                 keep_history: int, on_loaded: Callable[[TrackerState], None] | None = None,
                 ) -> tuple[dict[str, Any], TrackerState] | None:
    # PostgreSQL: the learner's state row is locked (FOR UPDATE) from this read to the commit. SQLite:
    # the write is checked against the answer count that was read; a concurrent step of the same learner
    # in between makes this one redo (rare: a learner answers one item at a time).
    seen = set(session.scalars(_SEEN_EVENTS, {"b_learner": learner_id, "b_events": [e.event_id for e in events]}))
    row = _state_row(session, learner_id, lock=True)
    state, before = current_state(session, tracker, version, learner_id, row)
    if on_loaded is not None:
        on_loaded(state)
    new: list[dict[str, Any]] = []
    for e in events:
        if e.event_id in seen:
            continue
        seen.add(e.event_id)
        when = e.timestamp if e.timestamp is not None else time.time()
        if not state.history:  # a fresh learner's clock starts at their first answer (no decay before it)
            state.time, state.last[:] = when, when
        new.append({"learner_id": learner_id, "event_id": e.event_id, "item_id": e.item, "correct": e.correct,
                    "timestamp": when})
        tracker.update(state, tracker.item_index[e.item], int(e.correct), time=max(when, state.time))
    answers = before + len(new)
    if not new:
        session.rollback()
        return {"stored": 0, "duplicates": len(events), "answers": answers}, state
    values = {"model_version": version, "state": tracker.state_to_dict(state, keep_history=keep_history),
              "answers": answers}
    with write_lock(session.get_bind().engine):
        try:
            session.execute(_INSERT_RESPONSES, new)
            if row is None:
                session.execute(_INSERT_STATE, {"learner_id": learner_id, **values})
            else:
                changed = session.execute(_UPDATE_STATE, {**values, "b_learner": learner_id,
                                                          "b_answers": row.answers, "b_version": row.model_version})
                if changed.rowcount != 1:  # type: ignore[attr-defined]
                    session.rollback()
                    return None
            session.commit()
        except IntegrityError:  # a concurrent request stored these events or this state first: redo
            session.rollback()
            return None
    return {"stored": len(new), "duplicates": len(events) - len(new), "answers": answers}, state


def catalog(session: Session) -> ResourceCatalog | None:
    """The course's resources (None when it has none)."""
    rows = session.execute(select(t.CourseResource.skill, t.CourseResource.kind, t.CourseResource.title,
                                  t.CourseResource.url).order_by(t.CourseResource.id)).all()
    return ResourceCatalog([Resource(*r) for r in rows]) if rows else None


def recommend(tracker: SkillTracker, state: TrackerState, learner_id: str, policy: str = "default") -> Recommendation:
    """The next item for a learner; the random draws depend on the learner and their answer count only, so the
    same question gets the same answer after a restart and from every worker."""
    rng = np.random.default_rng([state.answers, zlib.crc32(learner_id.encode())])
    return make_policy(policy, tracker).recommend(state, rng)


def delete_learner(session: Session, learner_id: str) -> None:
    """Every trace of a learner: responses, states, assessments, keys, the learner row."""
    session.execute(delete(t.Response).where(t.Response.learner_id == learner_id))
    session.execute(delete(t.LearnerState).where(t.LearnerState.learner_id == learner_id))
    session.execute(delete(t.KTState).where(t.KTState.learner_id == learner_id))
    session.execute(delete(t.Assessment).where(t.Assessment.learner_id == learner_id))
    session.execute(delete(t.ApiKey).where(t.ApiKey.role == "learner", t.ApiKey.subject == learner_id))
    session.execute(delete(t.Learner).where(t.Learner.id == learner_id))
    session.commit()


def builtin_course(*, n_skills: int = 12, items_per_skill: int = 25, seed: int = 0) -> dict[str, Any]:
    """The simulator's course (skills, prerequisites, items) as the body of POST /api/course."""
    from metatutor.data.simulator import Simulator, SimulatorConfig

    course = Simulator(SimulatorConfig(n_skills=n_skills, items_per_skill=items_per_skill), random_state=seed).course
    return {"skills": list(course.skill_ids), "prerequisites": [list(e) for e in course.prerequisites],
            "items": [{"id": i, "skills": [course.skill_ids[s] for s in sk]}
                      for i, sk in zip(course.item_ids, course.item_skills, strict=True)]}
