"""The demo school: the built-in middle-school maths course (items with statements, hints, solutions and
misconceptions), a skill tracker and a knowledge-tracing model (1PL IRT) fitted on simulated learners who
answer those items, an item bank whose difficulties are predicted from each item's template and
parameters, a teacher with a class of simulated classmates who have practised (their typed answers,
wrong ones drawn from the items' misconceptions, so the teacher's view shows them), and a fresh demo
learner. `metatutor demo` serves it; the browser tests log in to it.

With `data` (a real dataset) the course is the dataset's items and skills instead (no statements: its
items keep a right/wrong self-report).

The first start takes a few seconds: most of it is generating the items and grading the simulated answers
with the server's grader; `progress` hears each step."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metatutor.assessment.bank import ItemBank
from metatutor.data.responses import Responses
from metatutor.learner import SkillGraph, SkillTracker, Tracker
from metatutor.models.base import LearnerModel
from metatutor.models.serving import ServedModel
from metatutor.service import kt, states, store, versions
from metatutor.service import tables as t
from metatutor.service.imports import course_of
from metatutor.service.schemas import CourseIn, ResponseIn
from metatutor.service.security import new_key, revoke_key
from metatutor.service.tutoring import GradedResponse

TEACHER = "demo-teacher"
LEARNER = "demo-learner"
PRIOR_SD = 0.8  # how far a predicted difficulty may be off (logits): the prior of its recalibration
# the demo's meta-learned model is fitted in seconds on its few simulated learners: fewer epochs and outer
# steps than `metatutor train` takes on a real dataset
DEMO_EPOCHS, DEMO_META_STEPS = 15, 150
Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoKeys:
    admin: str
    teacher: str
    learner: str


def setup_demo(sessions: sessionmaker[Session], *, data: Responses | None = None, learners: int = 40,
               classmates: int = 11, seed: int = 0, keep_history: int = 200, bank_items: int = 400,
               per_template: int = 12, learner_model: str = "default", progress: Progress | None = None) -> DemoKeys:
    """Fill an empty database with the demo school (a database that has it already keeps its model and
    data); new API keys are made on every call (only their hashes are stored).

    `learners` simulated learners train the models, `classmates` more form the class; `per_template`
    items of each of the course's templates. With `data` (a real dataset) the model is trained on all
    learners but the last `classmates`, who form the class, and the item bank is calibrated on the
    `bank_items` most-answered items. `learner_model`: default (= meta, the meta-learned model every
    decision reads) or tracker (the hand-built skill tracker, in a fraction of the time)."""
    say = progress or (lambda _: None)
    began = time.perf_counter()
    with sessions() as session:
        if session.scalar(select(t.Learner.id).where(t.Learner.id == LEARNER)) is None:
            if data is None:
                _build_maths(session, learners=learners, classmates=classmates, seed=seed,
                             keep_history=keep_history, per_template=per_template, learner_model=learner_model,
                             say=say)
            else:
                _build_from_data(session, data, classmates=classmates, seed=seed, keep_history=keep_history,
                                 bank_items=bank_items, learner_model=learner_model, say=say)
            say(f"the demo school is ready ({time.perf_counter() - began:.1f} s)")
        else:
            say("the demo school is there already (from an earlier start)")
        for old in session.scalars(select(t.ApiKey.id).where(t.ApiKey.label == "demo")).all():
            revoke_key(session, old)  # the keys of an earlier start stop working
        return DemoKeys(admin=new_key(session, "admin", label="demo")[0],
                        teacher=new_key(session, "teacher", TEACHER, label="demo")[0],
                        learner=new_key(session, "learner", LEARNER, label="demo")[0])


def _build_maths(session: Session, *, learners: int, classmates: int, seed: int, keep_history: int,
                 per_template: int, learner_model: str, say: Progress) -> None:
    from metatutor.content import SKILLS, prerequisites
    from metatutor.content.course import course_items, item_meta
    from metatutor.content.simulate import Classmates
    from metatutor.models import make_model

    items = course_items(per_template, seed=seed)
    say(f"built the maths course: {len(SKILLS)} skills, {len(items)} items")
    course = CourseIn.model_validate({"skills": list(SKILLS), "prerequisites": prerequisites(),
                                      "items": [{"id": i.id, "skills": list(i.skills), "meta": item_meta(i)}
                                                for i in items]})
    sim = Classmates(items, random_state=seed)
    cohort = sim.simulate(learners, per_skill=3)
    say(f"{learners} simulated learners answered {len(cohort.answers)} items (graded by the server's grader)")
    graph = SkillGraph.from_edges([(a, b) for a, b in prerequisites()], list(SKILLS))
    if learner_model == "tracker":
        tracker: Tracker = _whole_course(SkillTracker.fit(cohort.responses, graph, random_state=seed), course)
    else:
        say("meta-training the learner model on them (the population DKT, then the prior over learners)…")
        tracker = meta_learned(cohort.responses, course, seed=seed)
    irt = make_model("irt").fit(cohort.responses)
    say(f"fitted the learner model ({tracker.name}) and the knowledge-tracing model (1PL IRT)")
    log = sim.simulate(classmates, per_skill=4)
    rng = np.random.default_rng(seed)
    answers = _class_answers(log.answers, rng)
    say(f"{classmates} classmates answered {sum(len(a) for a in answers.values())} items")
    bank = predicted_bank(items)
    _build(session, course, tracker, bank, answers, keep_history, irt,
           bank_info={"source": "predicted from each item's template and parameters", "prior_sd": PRIOR_SD})
    say(f"stored the course, the models, an item bank of {len(bank)} predicted difficulties and the class")


def meta_learned(responses: Responses, course: CourseIn | None = None, *, seed: int,
                 max_epochs: int = DEMO_EPOCHS, meta_steps: int = DEMO_META_STEPS) -> Tracker:
    """The meta-learned learner model fitted on `responses` (a fifth of the learners early-stop it), over
    every item of `course` (one never answered is predicted from its skills and its template's difficulty),
    or over the items of `responses` without one."""
    from metatutor.data.splits import holdout_split
    from metatutor.learner.registry import fit_for_course

    fit_on, valid_on = holdout_split(responses, valid_fraction=0.2, random_state=seed)
    fitted = fit_for_course("meta", fit_on, valid_on, responses, random_state=seed, max_epochs=max_epochs,
                            settings={"meta_steps": meta_steps, "eval_every": max(meta_steps // 4, 1)})
    return fitted if course is None else store.on_course(fitted, course)


def _whole_course(fitted: SkillTracker, course: CourseIn) -> SkillTracker:
    """The fitted tracker over every item of the course (an item the training learners never answered gets
    no offset: it starts as an average item of its skills)."""
    offsets = np.array([fitted.offset[fitted.item_index[i.id]] if i.id in fitted.item_index else 0.0
                        for i in course.items])
    return SkillTracker(graph=fitted.graph, item_ids=[i.id for i in course.items],
                        item_skills=[list(i.skills) for i in course.items], params=fitted.params, offset=offsets,
                        config=fitted.config)


def predicted_bank(items: list[Any]) -> ItemBank:
    """A 1PL item bank from the difficulty each item's template predicts from its parameters, each with a
    standard error of `PRIOR_SD`: `ItemBank.recalibrate` moves an item as its answers arrive."""
    b = np.array([float(i.difficulty or 0.0) for i in items])
    bank = ItemBank.from_parameters(np.ones(len(items)), b, item_ids=np.array([i.id for i in items]), kind="1pl")
    return replace(bank, se_b=np.full(len(items), PRIOR_SD))


def _class_answers(frame: Any, rng: np.random.Generator) -> dict[str, list[ResponseIn]]:
    """Each classmate's graded answers as the server stores them (unreadable ones left out), cut at a point
    of their own (some are further on than others) and ending in the last few days."""
    now = time.time()
    out: dict[str, list[ResponseIn]] = {}
    for code, (_, rows) in enumerate(frame.groupby("learner", sort=False)):
        rows = rows[rows["verdict"] != "unreadable"]
        keep = rows.iloc[: int(rng.integers(max(len(rows) // 3, 1), len(rows) + 1))]
        start = now - float(rng.uniform(1, 6)) * 86_400 - float(keep["timestamp"].max() if len(keep) else 0.0)
        seconds = np.diff(np.r_[0.0, keep["timestamp"].to_numpy()])
        events: list[ResponseIn] = []
        for k, r in enumerate(keep.itertuples(index=False)):
            raw = r.raw if isinstance(r.raw, str) else " | ".join(r.raw)
            hints = int(r.hints_used)
            events.append(GradedResponse(event_id=f"demo-{code}-{k}", item=r.item, timestamp=start + float(r.timestamp),
                                         correct=bool(r.verdict == "correct" and hints == 0), answer=raw[:1000],
                                         verdict=r.verdict, misconception=r.detected if isinstance(r.detected, str)
                                         else None, hints=hints, seconds=round(float(seconds[k]), 1)))
        out[f"learner-{code + 1:02d}"] = events
    return out


def _build_from_data(session: Session, data: Responses, *, classmates: int, seed: int, keep_history: int,
                     bank_items: int, learner_model: str, say: Progress) -> None:
    from metatutor.models import make_model

    ids = data.learners_present()
    train, cls = data.select_learners(ids[:-classmates]), data.select_learners(ids[-classmates:])
    tracker: Tracker = SkillTracker.fit(train, random_state=seed)
    if learner_model != "tracker":
        say(f"meta-training the learner model on {len(ids) - classmates} learners…")
        tracker = meta_learned(train, seed=seed)
    say(f"fitted the learner model ({tracker.name}) on {len(ids) - classmates} learners ({tracker.n_skills} "
        f"skills, {tracker.n_items} items)")
    counts = np.bincount(train.item, minlength=train.n_items)
    top = np.argsort(-counts, kind="stable")[:bank_items]
    bank = ItemBank.calibrate(train.select_rows(np.isin(train.item, top)), kind="1pl")
    irt = make_model("irt").fit(train)
    say(f"calibrated an item bank of {len(bank)} items and fitted the knowledge-tracing model (1PL IRT)")
    answers = {f"learner-{code + 1:02d}": [e for e in _events(cls, code) if e.item in tracker.item_index]
               for code in range(len(cls.learners_present()))}
    _build(session, course_of(tracker), tracker, bank, answers, keep_history, irt,
           bank_info={"source": "calibrated on the dataset"})
    say(f"stored the course, the models and a class of {len(answers)}")


def _build(session: Session, course: CourseIn, tracker: Tracker, bank: ItemBank,
           answers: dict[str, list[ResponseIn]], keep_history: int, kt_model: LearnerModel, *,
           bank_info: dict[str, Any]) -> None:
    version, _ = store.import_course(session, course, tracker)
    versions.activate(session, "bank", bank.to_dict(), info=bank_info)
    served = ServedModel(kt_model)
    kt.store_model(session, served, info={"source": "demo", "model": kt_model.name,
                                          "history": getattr(kt_model, "history_", [])[-1:],
                                          **kt.course_coverage(session, served)}, activate=True)
    session.add_all(t.Learner(id=name, teacher=TEACHER) for name in [LEARNER, *answers])
    session.commit()
    for name, events in answers.items():
        if events:
            states.ingest(session, tracker, version, {name: events}, keep_history=keep_history, inline=10_000)


def _events(responses: Responses, code: int) -> list[ResponseIn]:
    start = int(responses.starts[code])
    rows = range(start, start + int(responses.lengths[code]))
    ts = responses.timestamp
    return [ResponseIn(event_id=f"demo-{i}", item=str(responses.item_ids[responses.item[i]]),
                       correct=bool(responses.correct[i]), timestamp=None if ts is None else float(ts[i]))
            for i in rows]
