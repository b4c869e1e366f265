"""The teacher's pages: the class (skill heatmap, the learners to act on, the misconceptions the class
showed with example answers, the most-missed items with their statements, learning curves, the learners)
and each learner's report (with the answers they typed); both as CSV with `?format=csv`.

Readable at hundreds of skills: the heatmap shows the skills the class practised most (or the weakest, or
those a filter matches), at most `HEATMAP_SKILLS` of them; skill and learner ids sort naturally."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from metatutor.feedback.at_risk import at_risk
from metatutor.feedback.class_report import class_report
from metatutor.feedback.report import learner_report, skill_statuses
from metatutor.learner import LearnerState, Tracker
from metatutor.service import kt, store
from metatutor.service import tables as t
from metatutor.service.deps import RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.routes.classes import class_states
from metatutor.service.schemas import PathName
from metatutor.service.security import require_learner_access
from metatutor.service.web import answers, charts
from metatutor.service.web.base import QueryId, csv_response, natural, natural_key, page, router, who
from metatutor.service.web.practice import CHART_SKILLS, ordered_skills, read_state
from metatutor.service.web.wording import level_text, skill_name, student_reason

HEATMAP_SKILLS = 30
Format = Annotated[Literal["html", "csv"], Query()]
SkillView = Annotated[Literal["practised", "weakest", "all"], Query()]
Filter = Annotated[str | None, Query(max_length=100)]


def pick_skills(tracker: Tracker, states: dict[str, LearnerState], *, view: str = "practised", q: str | None = None,
                limit: int = HEATMAP_SKILLS) -> tuple[list[str], int]:
    """The skills the heatmap shows (prerequisites first, then in natural order) and how many matched."""
    names = [str(s) for s in tracker.skill_ids]
    count = np.zeros(len(names))
    mean = np.zeros(len(names))
    for state in states.values():
        count += state.count
        mean += tracker.mastery(state)
    mean /= max(len(states), 1)
    keep = np.ones(len(names), dtype=bool)
    if q:
        needle = q.strip().lower()
        keep = np.array([needle in s.lower() or needle in skill_name(s).lower() for s in names])
    if view != "all" and (count[keep] > 0).any():
        keep &= count > 0
    chosen = np.flatnonzero(keep)
    if view == "weakest":
        chosen = chosen[np.argsort(mean[chosen], kind="stable")]
    elif view == "practised":
        chosen = chosen[np.argsort(-count[chosen], kind="stable")]
    else:
        chosen = np.array(sorted(chosen, key=lambda k: natural_key(names[k])), dtype=np.int64)
    shown = [names[k] for k in chosen[:limit]]
    if view != "weakest":
        order = {s: k for k, s in enumerate(tracker.graph.order())}
        shown.sort(key=lambda s: (order.get(s, 0) if len(names) <= 60 else 0, natural_key(s)))
    return shown, len(chosen)


@router.get("/class", response_class=HTMLResponse)
def class_page(request: Request, session: SessionDep, model: TrackerDep, settings: SettingsDep,
               rebuilder: RebuilderDep, teacher: QueryId = None, format: Format = "html",
               skills: SkillView = "practised", q: Filter = None) -> Response:
    person = who(request, session)
    if person.who.role == "learner":
        return RedirectResponse("/practice", status_code=303)
    teachers = natural({x for x in session.scalars(select(t.Learner.teacher)) if x})
    name = person.who.subject if person.who.role == "teacher" else (teacher or (teachers[0] if teachers else None))
    tracker = model[1]
    loaded, updating = class_states(session, model, settings, rebuilder, name or "")
    learner_states = {i: state for i, (state, _) in loaded.items()}
    if format == "csv":
        return _class_csv(tracker, learner_states, name or "class")
    learners = natural([*loaded, *updating])
    report = class_report(tracker, learner_states, n_items=10)
    shown, matched = pick_skills(tracker, learner_states, view=skills, q=q)
    keep = set(shown)
    heat = [h for h in report.heatmap if h["skill"] in keep]
    missed = sorted(report.most_missed, key=lambda m: (-m["error_rate"], -m["wrong"], natural_key(m["item"])))
    risk = at_risk(tracker, learner_states)
    started = sum(1 for s in learner_states.values() if s.answers)
    return page(request, "class.html", person, active="class", teacher=name, teachers=teachers, learners=learners,
                updating=updating, answers={i: n for i, (_, n) in loaded.items()}, at_risk=risk, started=started,
                risky={r.learner for r in risk}, most_missed=missed,
                statements=answers.statements(session, [m["item"] for m in missed]),
                misconceptions=answers.class_misconceptions(session, learners),
                skills_view=skills, q=q or "", shown=len(shown), matched=matched, n_skills=tracker.n_skills,
                heatmap_spec=charts.heatmap_chart(heat, shown, [i for i in learners if i in learner_states]),
                curves_spec=charts.curves_chart(tracker, learner_states))


def _class_csv(tracker: Tracker, states: dict[str, LearnerState], teacher: str) -> Response:
    rows = []
    for learner in natural(states):
        for s in skill_statuses(tracker, states[learner]):
            rows.append([learner, s.skill, round(s.mastery, 4), round(s.uncertainty, 4), s.status, s.answers, s.wrong,
                         " ".join(s.blocked_by)])
    return csv_response(["learner", "skill", "mastery", "uncertainty", "status", "answers", "wrong", "needs"], rows,
                        f"class-{teacher}.csv")


@router.get("/class/learner/{learner_id}", response_class=HTMLResponse)
def learner_page(request: Request, learner_id: PathName, session: SessionDep, model: TrackerDep,
                 settings: SettingsDep, rebuilder: RebuilderDep, format: Format = "html",
                 table: Annotated[Literal["skills", "answers"], Query()] = "skills") -> Response:
    person = who(request, session)
    require_learner_access(session, person.who, learner_id)
    tracker = model[1]
    state, n = read_state(session, model, settings, rebuilder, learner_id)
    if format == "csv":
        return _learner_csv(session, tracker, state, learner_id, table)
    report = learner_report(tracker, state, learner=learner_id, catalog=store.catalog(session))
    try:  # the knowledge-tracing model's view beside the tracker's, when one is active
        kt_version, served = request.app.state.kt.get(session)
        kt_state, _ = kt.learner_state(session, served, kt_version, learner_id)
        predicted = kt.skill_predictions(served, kt_state, tracker)
        order = {s.skill: k for k, s in enumerate(ordered_skills(tracker, state))}
        predicted = sorted(predicted, key=lambda p: order.get(p["skill"], 0))[:CHART_SKILLS]
        kt_view = {"model": served.name, "version": kt_version, "spec": charts.predicted_chart(predicted)}
    except kt.NoKTModel:
        kt_view = None
    skills = ordered_skills(tracker, state)
    learner_view = person.who.role == "learner"
    steps = [{"rec": r, "why": student_reason(r, tracker, state) if learner_view and k == 0 else
              ("if the one before goes well" if learner_view else r.reason)} for k, r in enumerate(report.next_steps)]
    last = answers.last_assessment(session, learner_id)
    mistakes = report.frequent_mistakes
    recent = answers.recent_answers(session, learner_id, limit=50)
    return page(request, "learner.html", person, active="report" if learner_view else "class", report=report,
                kt=kt_view, skills=skills, steps=steps, answers_n=n, recent=recent,
                mastered=sum(s.status == "mastered" for s in skills),
                misconceptions=answers.class_misconceptions(session, [learner_id]),
                statements=answers.statements(session, [m["item"] for m in mistakes]),
                assessment=None if last is None else {**last, **level_text(last["theta"], last["se"])},
                mastery_spec=charts.mastery_chart([s.__dict__ for s in skills[:CHART_SKILLS]]))


def _learner_csv(session: SessionDep, tracker: Tracker, state: LearnerState, learner: str, table: str) -> Response:
    if table == "answers":
        rows = [[r["timestamp"], r["item"], r["answer"], r["verdict"], r["misconception"], r["hints"], r["seconds"],
                 int(r["correct"]), r["event"]] for r in answers.recent_answers(session, learner, limit=100_000)]
        return csv_response(["timestamp", "item", "answer", "verdict", "misconception", "hints", "seconds",
                             "counted_correct", "event_id"], rows, f"answers-{learner}.csv")
    rows = [[s.skill, round(s.mastery, 4), round(s.uncertainty, 4), s.status, s.answers, s.wrong, " ".join(s.blocked_by)]
            for s in ordered_skills(tracker, state)]
    return csv_response(["skill", "mastery", "uncertainty", "status", "answers", "wrong", "needs"], rows,
                        f"report-{learner}.csv")


__all__: list[Any] = ["class_page", "learner_page", "pick_skills", "router"]
