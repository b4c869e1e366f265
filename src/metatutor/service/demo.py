"""The demo school: the simulator's course, a learner model (the skill tracker) and a knowledge-tracing
model trained on simulated learners, an item bank calibrated on them, a teacher with a class whose
classmates have practised, and a fresh demo learner.
`metatutor demo` serves it; the browser tests log in to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metatutor.assessment.bank import ItemBank
from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.models.base import LearnerModel
from metatutor.models.serving import ServedModel
from metatutor.policy import SkillTracker, course_graph
from metatutor.service import kt, store
from metatutor.service import tables as t
from metatutor.service.imports import course_of
from metatutor.service.schemas import CourseIn, ResponseIn
from metatutor.service.security import new_key

TEACHER = "demo-teacher"
LEARNER = "demo-learner"


@dataclass(frozen=True)
class DemoKeys:
    admin: str
    teacher: str
    learner: str


def setup_demo(sessions: sessionmaker[Session], *, data: Responses | None = None, learners: int = 300,
               classmates: int = 11, seed: int = 0, keep_history: int = 200, bank_items: int = 400) -> DemoKeys:
    """Fill an empty database with the demo school (a database that has it already keeps its model and
    data); new API keys are made on every call (only their hashes are stored).

    With `data` (a real dataset) the course is the dataset's items and skills, prerequisites are estimated
    from the logs, the model is trained on all learners but the last `classmates`, who form the class, and
    the item bank is calibrated on the `bank_items` most-answered items; the KT model is then a 1PL IRT
    (seconds to fit; `POST /api/models/train` with `{"kind": "kt", "model": "attn"}` fits the attention
    model as a background job)."""
    with sessions() as session:
        if session.scalar(select(t.Learner.id).where(t.Learner.id == LEARNER)) is None:
            if data is None:
                _build_simulated(session, learners=learners, classmates=classmates, seed=seed,
                                 keep_history=keep_history)
            else:
                _build_from_data(session, data, classmates=classmates, seed=seed, keep_history=keep_history,
                                 bank_items=bank_items)
        return DemoKeys(admin=new_key(session, "admin"), teacher=new_key(session, "teacher", TEACHER),
                        learner=new_key(session, "learner", LEARNER))


def _build_simulated(session: Session, *, learners: int, classmates: int, seed: int, keep_history: int) -> None:
    sim = Simulator(SimulatorConfig(n_skills=12, items_per_skill=25), random_state=seed)
    course = CourseIn.model_validate(store.builtin_course(n_skills=12, items_per_skill=25, seed=seed))
    cohort = sim.simulate(learners, (30, 120))
    tracker = SkillTracker.fit(cohort, course_graph(sim.course), random_state=seed)
    practised = sim.simulate(classmates, (10, 80))  # learners the model was not trained on
    from metatutor.data.splits import holdout_split
    from metatutor.models import make_model

    fit_on, valid_on = holdout_split(cohort, valid_fraction=0.2, random_state=seed)
    dkt = make_model("dkt", max_epochs=8, random_state=seed).fit(fit_on, valid_on)
    _build(session, course, tracker, ItemBank.calibrate(cohort, kind="2pl"), practised, keep_history, dkt)


def _build_from_data(session: Session, data: Responses, *, classmates: int, seed: int, keep_history: int,
                     bank_items: int) -> None:
    ids = data.learners_present()
    train, cls = data.select_learners(ids[:-classmates]), data.select_learners(ids[-classmates:])
    tracker = SkillTracker.fit(train, random_state=seed)
    counts = np.bincount(train.item, minlength=train.n_items)
    top = np.argsort(-counts, kind="stable")[:bank_items]
    bank = ItemBank.calibrate(train.select_rows(np.isin(train.item, top)), kind="1pl")
    from metatutor.models import make_model

    _build(session, course_of(tracker), tracker, bank, cls, keep_history, make_model("irt").fit(train))


def _build(session: Session, course: CourseIn, tracker: SkillTracker, bank: ItemBank, practised: Responses,
           keep_history: int, kt_model: LearnerModel) -> None:
    version = store.import_course(session, course, tracker)
    store.activate(session, "bank", bank.to_dict())
    served = ServedModel(kt_model)
    kt.store_model(session, served, info={"source": "demo", "model": kt_model.name,
                                          "history": getattr(kt_model, "history_", [])[-1:],
                                          **kt.course_coverage(session, served)}, activate=True)
    names = [f"learner-{n:02d}" for n in range(1, len(practised.learners_present()) + 1)]
    session.add_all(t.Learner(id=name, teacher=TEACHER) for name in [LEARNER, *names])
    session.commit()
    for code, name in enumerate(names):
        events = [e for e in _events(practised, code) if e.item in tracker.item_index]
        if events:
            store.ingest(session, tracker, version, name, events, keep_history=keep_history)


def _events(responses: Responses, code: int) -> list[ResponseIn]:
    start = int(responses.starts[code])
    rows = range(start, start + int(responses.lengths[code]))
    ts = responses.timestamp
    return [ResponseIn(event_id=f"demo-{i}", item=str(responses.item_ids[responses.item[i]]),
                       correct=bool(responses.correct[i]), timestamp=None if ts is None else float(ts[i]))
            for i in rows]
