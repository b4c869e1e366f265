"""The dashboard: server-rendered pages (Jinja2), partial updates with htmx, charts with Vega-Lite (all
JavaScript served from /static; nothing from a CDN). Same API keys and roles as the JSON API: the login
form stores the key in an HTTP-only, same-site cookie.

- `/practice`: a learner practises; every answer shows how mastery moved and why the next item was chosen;
- `/class`: a teacher's class: skill heatmap, learners at risk, learning curves, each learner's report;
- `/assess`: an adaptive assessment with the ability estimate and its standard error after each answer.
"""

from __future__ import annotations

import html
import uuid
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from metatutor.assessment.estimation import estimate
from metatutor.feedback.class_report import class_report
from metatutor.feedback.report import learner_report, skill_statuses
from metatutor.policy.tracker import LearnerState, SkillTracker
from metatutor.service import kt, store
from metatutor.service import tables as t
from metatutor.service.deps import SessionDep, SettingsDep, TrackerDep
from metatutor.service.routes import assessments
from metatutor.service.schemas import ResponseIn, RowId
from metatutor.service.security import Principal, authenticate, require_learner_access

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
COOKIE = "mt_key"


class LoginRequired(Exception):
    """A page was asked for without a valid key: the handler sends the browser to the login form."""


def _who(request: Request, session: SessionDep) -> Principal:
    key = request.cookies.get(COOKIE)
    try:
        return authenticate(session, key, request.app.state.keys)
    except HTTPException:
        raise LoginRequired from None


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context)


# ----- log in and out ------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    return _page(request, "login.html", error=error)


@router.post("/login")
def login(request: Request, session: SessionDep, key: Annotated[str, Form()]) -> Response:
    try:
        who = authenticate(session, key.strip(), request.app.state.keys)
    except HTTPException:
        return _page(request, "login.html", error="Unknown key.")
    target = "/practice" if who.role == "learner" else "/class"
    res = RedirectResponse(target, status_code=303)
    res.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict")
    return res


@router.post("/logout")
def logout() -> Response:
    res = RedirectResponse("/", status_code=303)
    res.delete_cookie(COOKIE)
    return res


# ----- practice ------------------------------------------------------------------------------------
def _learner_id(who: Principal, learner: str | None) -> str:
    if who.role == "learner":
        assert who.subject is not None
        return who.subject
    if not learner:
        raise HTTPException(422, "choose a learner: ?learner=ID")
    return learner


def _practice_context(tracker: SkillTracker, state: LearnerState, learner: str, answers: int, *,
                      before: np.ndarray | None = None, answered: dict[str, Any] | None = None) -> dict[str, Any]:
    skills = skill_statuses(tracker, state)
    rec = store.recommend(tracker, state, learner)
    changes = []
    if before is not None and answered is not None:
        after = tracker.mastery(state)
        item = tracker.item_index[answered["item"]]
        for k in tracker.link_skill[tracker.item_ptr[item]: tracker.item_ptr[item + 1]]:
            changes.append({"skill": str(tracker.skill_ids[k]), "before": float(before[k]), "after": float(after[k])})
    return {"learner": learner, "skills": skills, "rec": rec, "event": uuid.uuid4().hex, "changes": changes,
            "answered": answered, "answers": answers,
            "mastery_spec": mastery_chart([s.__dict__ for s in skills])}


@router.get("/practice", response_class=HTMLResponse)
def practice(request: Request, session: SessionDep, model: TrackerDep, learner: str | None = None) -> Response:
    who = _who(request, session)
    if who.role != "learner" and not learner:  # a teacher or an admin picks a learner on the class page
        return RedirectResponse("/class", status_code=303)
    learner_id = _learner_id(who, learner)
    require_learner_access(session, who, learner_id)
    version, tracker = model
    state, answers = store.current_state(session, tracker, version, learner_id)
    return _page(request, "practice.html", who=who, **_practice_context(tracker, state, learner_id, answers))


@router.post("/practice/answer", response_class=HTMLResponse)
def practice_answer(request: Request, session: SessionDep, model: TrackerDep, settings: SettingsDep,
                    learner: Annotated[str, Form()], item: Annotated[str, Form()], correct: Annotated[int, Form()],
                    event: Annotated[str, Form()]) -> Response:
    who = _who(request, session)
    require_learner_access(session, who, learner)
    version, tracker = model
    loaded: list[np.ndarray] = []  # mastery before the answer, from the state that ingest reads
    out, state = store.ingest(session, tracker, version, learner,
                            [ResponseIn(event_id=event, item=item, correct=bool(correct))],
                            keep_history=settings.keep_history, on_loaded=lambda s: loaded.append(tracker.mastery(s)))
    before = loaded[-1]
    if "hx-request" not in request.headers:  # a plain form post (no JavaScript): show the page again
        return RedirectResponse(f"/practice?learner={learner}", status_code=303)
    context = _practice_context(tracker, state, learner, out["answers"], before=before,
                                answered={"item": item, "correct": bool(correct)})
    return _page(request, "_practice_panel.html", who=who, **context)


# ----- the teacher's class ---------------------------------------------------------------------------
@router.get("/class", response_class=HTMLResponse)
def class_page(request: Request, session: SessionDep, model: TrackerDep, teacher: str | None = None) -> HTMLResponse:
    who = _who(request, session)
    if who.role == "learner":
        return RedirectResponse("/practice", status_code=303)  # type: ignore[return-value]
    teachers = sorted({x for x in session.scalars(select(t.Learner.teacher)) if x})
    name = who.subject if who.role == "teacher" else (teacher or (teachers[0] if teachers else None))
    version, tracker = model
    ids = list(session.scalars(select(t.Learner.id).where(t.Learner.teacher == name).order_by(t.Learner.id)))
    loaded = {i: store.current_state(session, tracker, version, i) for i in ids}
    states = {i: state for i, (state, _) in loaded.items()}
    report = class_report(tracker, states)
    return _page(request, "class.html", who=who, teacher=name, teachers=teachers, report=report, learners=ids,
                 answers={i: n for i, (_, n) in loaded.items()},
                 heatmap_spec=heatmap_chart(report.heatmap), curves_spec=curves_chart(tracker, states))


@router.get("/class/learner/{learner_id}", response_class=HTMLResponse)
def learner_page(request: Request, learner_id: str, session: SessionDep, model: TrackerDep) -> HTMLResponse:
    who = _who(request, session)
    require_learner_access(session, who, learner_id)
    version, tracker = model
    state = store.load_state(session, tracker, version, learner_id)
    report = learner_report(tracker, state, learner=learner_id, catalog=store.catalog(session))
    try:  # the knowledge-tracing model's view beside the tracker's, when one is active
        kt_version, served = request.app.state.kt.get(session)
        kt_state, _ = kt.learner_state(session, served, kt_version, learner_id)
        kt_view = {"model": served.name, "version": kt_version,
                   "spec": predicted_chart(kt.skill_predictions(served, kt_state, tracker))}
    except kt.NoKTModel:
        kt_view = None
    return _page(request, "learner.html", who=who, report=report, kt=kt_view,
                 mastery_spec=mastery_chart([s.__dict__ for s in report.skills]))


# ----- adaptive assessment -----------------------------------------------------------------------------
@router.get("/assess", response_class=HTMLResponse)
def assess_page(request: Request, session: SessionDep, learner: str | None = None) -> HTMLResponse:
    who = _who(request, session)
    learner_id = _learner_id(who, learner)
    require_learner_access(session, who, learner_id)
    return _page(request, "assess.html", who=who, learner=learner_id, test=None)


@router.post("/assess/start", response_class=HTMLResponse)
def assess_start(request: Request, session: SessionDep, learner: Annotated[str, Form()],
                 max_items: Annotated[int, Form()] = 15) -> HTMLResponse:
    who = _who(request, session)
    try:
        test = assessments.start(learner, assessments.AssessmentIn(
            max_items=max_items, min_items=5, se_target=0.35, criterion="mfi"), session, who)
    except HTTPException as exc:
        if exc.status_code != 409:  # 403/404 stay errors; "no item bank yet" is shown on the page
            raise
        return HTMLResponse(f'<p class="error" id="assess-error">{html.escape(str(exc.detail))}</p>')
    return _page(request, "_assess_panel.html", who=who, learner=learner, **_assess_context(session, test))


@router.post("/assess/{assessment_id}/answer", response_class=HTMLResponse)
def assess_answer(request: Request, assessment_id: RowId, session: SessionDep, model: TrackerDep,
                  settings: SettingsDep, item: Annotated[str, Form()], correct: Annotated[int, Form()]) -> HTMLResponse:
    who = _who(request, session)
    test = assessments.answer(assessment_id, assessments.AnswerIn(item=item, correct=bool(correct)), session, who,
                              model, settings)
    return _page(request, "_assess_panel.html", who=who, learner=test["learner"], **_assess_context(session, test))


def _assess_context(session: SessionDep, test: dict[str, Any]) -> dict[str, Any]:
    row = session.get(t.Assessment, test["id"])
    bank_row = session.get(t.ModelVersion, row.bank_version) if row else None
    path = []
    if row is not None and bank_row is not None:
        from metatutor.assessment.bank import ItemBank

        bank = ItemBank.from_dict(bank_row.params)
        codes = bank.codes(row.state["items"])
        answers = np.asarray(row.state["responses"])
        for n in range(len(codes) + 1):
            est = estimate("eap", answers[:n], bank.a[codes[:n]], bank.b[codes[:n]], bank.c[codes[:n]])
            path.append({"answers": n, "theta": round(float(est.theta), 3), "se": round(float(est.se), 3)})
    return {"test": test, "theta_spec": theta_chart(path)}


# ----- Vega-Lite specs ---------------------------------------------------------------------------------
_STATUS_COLORS = {"domain": ["mastered", "learning", "weak", "blocked", "not started"],
                  "range": ["#2e7d32", "#1976d2", "#e65100", "#9e9e9e", "#cfd8dc"]}


def mastery_chart(skills: list[dict[str, Any]]) -> dict[str, Any]:
    """Mastery per skill (bars) with ± its uncertainty (rules), coloured by status."""
    values = [{"skill": s["skill"], "mastery": round(s["mastery"], 3), "status": s["status"],
               "low": max(0.0, s["mastery"] - s["uncertainty"]), "high": min(1.0, s["mastery"] + s["uncertainty"])}
              for s in skills]
    y = {"field": "skill", "type": "nominal", "sort": None, "title": None}
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": 320, "height": {"step": 18},
            "data": {"values": values},
            "layer": [{"mark": "bar", "encoding": {
                "y": y, "x": {"field": "mastery", "type": "quantitative", "scale": {"domain": [0, 1]},
                              "title": "P(mastered)"},
                "color": {"field": "status", "type": "nominal", "scale": _STATUS_COLORS},
                "tooltip": [{"field": "skill"}, {"field": "mastery"}, {"field": "status"}]}},
                {"mark": {"type": "rule", "color": "#333"}, "encoding": {
                    "y": y, "x": {"field": "low", "type": "quantitative"}, "x2": {"field": "high"}}}]}


def predicted_chart(skills: list[dict[str, Any]]) -> dict[str, Any]:
    """The KT model's mean P(correct) per skill (bars)."""
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": 320, "height": {"step": 18},
            "data": {"values": skills}, "mark": {"type": "bar", "color": "#5e35b1"},
            "encoding": {"y": {"field": "skill", "type": "nominal", "sort": None, "title": None},
                         "x": {"field": "p_correct", "type": "quantitative", "scale": {"domain": [0, 1]},
                               "title": "predicted P(correct) on the next item"},
                         "tooltip": [{"field": "skill"}, {"field": "p_correct"}, {"field": "items"}]}}


def heatmap_chart(heat: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "data": {"values": heat},
            "mark": "rect", "width": {"step": 28}, "height": {"step": 18},
            "encoding": {"x": {"field": "skill", "type": "nominal", "title": None},
                         "y": {"field": "learner", "type": "nominal", "title": None},
                         "color": {"field": "mastery", "type": "quantitative",
                                   "scale": {"domain": [0, 1], "scheme": "blues"}},
                         "tooltip": [{"field": "learner"}, {"field": "skill"}, {"field": "mastery"}]}}


def curves_chart(tracker: SkillTracker, states: dict[str, LearnerState], *, bucket: int = 5) -> dict[str, Any]:
    """Learning curves: share correct by attempt number (in buckets of `bucket`), per learner and the class."""
    values = []
    for name, state in states.items():
        y = np.array([c for _, c, _ in state.history], dtype=float)
        for start in range(0, len(y), bucket):
            values.append({"learner": name, "attempt": start + 1, "correct": float(y[start:start + bucket].mean())})
    x = {"field": "attempt", "type": "quantitative", "title": f"attempt (groups of {bucket})"}
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": 420, "height": 220,
            "data": {"values": values},
            "layer": [{"mark": {"type": "line", "opacity": 0.25}, "encoding": {
                "x": x, "y": {"field": "correct", "type": "quantitative", "title": "share correct"},
                "detail": {"field": "learner"}, "tooltip": [{"field": "learner"}]}},
                {"mark": {"type": "line", "color": "#c62828", "strokeWidth": 3}, "encoding": {
                    "x": x, "y": {"aggregate": "mean", "field": "correct", "type": "quantitative"}}}]}


def theta_chart(path: list[dict[str, Any]]) -> dict[str, Any]:
    """The ability estimate after each answer with a ±1 SE band."""
    values = [{**p, "low": p["theta"] - p["se"], "high": p["theta"] + p["se"]} for p in path]
    x = {"field": "answers", "type": "quantitative", "title": "answers", "axis": {"tickMinStep": 1}}
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": 360, "height": 200,
            "data": {"values": values},
            "layer": [{"mark": {"type": "area", "opacity": 0.25}, "encoding": {
                "x": x, "y": {"field": "low", "type": "quantitative", "title": "ability θ"}, "y2": {"field": "high"}}},
                {"mark": {"type": "line", "point": True}, "encoding": {
                    "x": x, "y": {"field": "theta", "type": "quantitative"}}}]}
