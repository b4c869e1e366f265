"""The demo school: the simulator's course, a learner model trained on simulated learners, an item bank
calibrated on them, a teacher with a class whose classmates have practised, and a fresh demo learner.
`metatutor demo` serves it; the browser tests log in to it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metatutor.assessment.bank import ItemBank
from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.policy import SkillTracker, course_graph
from metatutor.service import store
from metatutor.service import tables as t
from metatutor.service.schemas import CourseIn, ResponseIn
from metatutor.service.security import new_key

TEACHER = "demo-teacher"
LEARNER = "demo-learner"


@dataclass(frozen=True)
class DemoKeys:
    admin: str
    teacher: str
    learner: str


def setup_demo(sessions: sessionmaker[Session], *, learners: int = 300, classmates: int = 11, seed: int = 0,
               keep_history: int = 200) -> DemoKeys:
    """Fill an empty database with the demo school (a database that has it already keeps its model and
    data); new API keys are made on every call (only their hashes are stored)."""
    with sessions() as session:
        if session.scalar(select(t.Learner.id).where(t.Learner.id == LEARNER)) is None:
            _build(session, learners=learners, classmates=classmates, seed=seed, keep_history=keep_history)
        return DemoKeys(admin=new_key(session, "admin"), teacher=new_key(session, "teacher", TEACHER),
                        learner=new_key(session, "learner", LEARNER))


def _build(session: Session, *, learners: int, classmates: int, seed: int, keep_history: int) -> None:
    sim = Simulator(SimulatorConfig(n_skills=12, items_per_skill=25), random_state=seed)
    course = store.builtin_course(n_skills=12, items_per_skill=25, seed=seed)
    cohort = sim.simulate(learners, (30, 120))
    tracker = SkillTracker.fit(cohort, course_graph(sim.course), random_state=seed)
    store.import_course(session, CourseIn.model_validate(course), tracker)
    store.activate(session, "bank", ItemBank.calibrate(cohort, kind="2pl").to_dict())
    session.add(t.Learner(id=LEARNER, teacher=TEACHER))
    names = [f"learner-{n:02d}" for n in range(1, classmates + 1)]
    session.add_all(t.Learner(id=name, teacher=TEACHER) for name in names)
    session.commit()
    version, active = store.TrackerCache().get(session)
    practised = sim.simulate(classmates, (10, 80))  # learners the model was not trained on
    for code, name in enumerate(names):
        store.ingest(session, active, version, name, _events(practised, code), keep_history=keep_history)


def _events(responses: Responses, code: int) -> list[ResponseIn]:
    start = int(responses.starts[code])
    rows = range(start, start + int(responses.lengths[code]))
    ts = responses.timestamp
    return [ResponseIn(event_id=f"demo-{i}", item=str(responses.item_ids[responses.item[i]]),
                       correct=bool(responses.correct[i]), timestamp=None if ts is None else float(ts[i]))
            for i in rows]
