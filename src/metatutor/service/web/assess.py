"""The adaptive assessment page: each question's statement and an answer field graded on the server (an
item without content keeps a labelled self-report), the level estimate after each answer in words, and
why the test stopped. A graded answer feeds the test and, like every assessment answer, becomes a
response with what was typed."""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import update

from metatutor.assessment.estimation import estimate
from metatutor.errors import ConfigError
from metatutor.service import tables as t
from metatutor.service import tutoring
from metatutor.service.deps import RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.routes import assessments
from metatutor.service.schemas import RowId
from metatutor.service.security import require_learner_access
from metatutor.service.web import charts
from metatutor.service.web.base import Answers, Id, QueryId, Token, check_answers, page, router, who
from metatutor.service.web.practice import item_context, learner_of
from metatutor.service.web.wording import level_text, stop_text

MAX_ITEMS = 15


@router.get("/assess", response_class=HTMLResponse)
def assess_page(request: Request, session: SessionDep, learner: QueryId = None) -> HTMLResponse:
    person = who(request, session)
    learner_id = learner_of(person.who, learner)
    require_learner_access(session, person.who, learner_id)
    return page(request, "assess.html", person, active="assess", learner=learner_id, max_items=MAX_ITEMS)


@router.post("/assess/start", response_class=HTMLResponse)
def assess_start(request: Request, session: SessionDep, learner: Id,
                 max_items: Annotated[int, Form(ge=1, le=200)] = MAX_ITEMS, csrf: Token = None) -> HTMLResponse:
    person = who(request, session, csrf)
    try:
        test = assessments.start(learner, assessments.AssessmentIn(
            max_items=max_items, min_items=min(5, max_items), se_target=0.35, criterion="mfi"), session, person.who)
    except HTTPException as exc:
        if exc.status_code != 409:  # 403/404 stay errors; "no item bank yet" is shown on the page
            raise
        return page(request, "_assess_error.html", person, message=str(exc.detail))
    return page(request, "_assess_panel.html", person, **_context(session, test))


@router.post("/assess/{assessment_id}/answer", response_class=HTMLResponse)
def assess_answer(request: Request, assessment_id: RowId, session: SessionDep, model: TrackerDep,
                  settings: SettingsDep, rebuilder: RebuilderDep, item: Id, csrf: Token = None,
                  correct: Annotated[int | None, Form(ge=0, le=1)] = None, answer: Answers = None,
                  shown: Annotated[float | None, Form(ge=0, le=1e11)] = None) -> HTMLResponse:
    person = who(request, session, csrf)
    typed = check_answers(answer)
    graded = None
    if typed is not None:
        row = session.get(t.Assessment, assessment_id)
        if row is None:
            raise HTTPException(404, f"no assessment {assessment_id}")
        require_learner_access(session, person.who, row.learner_id)
        try:
            stored = tutoring.stored_item(session, item)
            graded = tutoring.grade_attempt(session, row.learner_id, stored, typed if len(typed) > 1 else typed[0])
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        if not graded.counts:  # unreadable: the same question again, nothing recorded
            test = assessments.get_assessment(assessment_id, session, person.who)
            return page(request, "_assess_panel.html", person, unreadable=True, typed=typed,
                        **_context(session, test, typed=typed))
        correct = int(bool(graded.correct and graded.hints_used == 0))
    if correct is None:
        raise HTTPException(422, "send an answer (or, for an item without content, correct=0 or 1)")
    before = assessments.get_assessment(assessment_id, session, person.who)
    try:
        test = assessments.answer(assessment_id, assessments.AnswerIn(item=item, correct=bool(correct)), session,
                                  person.who, model, settings, rebuilder)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if graded is not None:
        _keep_typed(session, test["learner"], f"cat-{assessment_id}-{before['n_items']}", graded, shown)
    last = {"item": item, "verdict": graded.verdict.value if graded is not None else
            ("self-right" if correct else "self-wrong")}
    return page(request, "_assess_panel.html", person, last=last, **_context(session, test))


def _keep_typed(session: SessionDep, learner: str, event_id: str, graded: Any, shown: float | None) -> None:
    """The assessment stored the answer as a response (`cat-{test}-{n}`): add what was typed to it."""
    response = tutoring.as_response(graded, event_id, seconds=None if shown is None else
                                    min(max(time.time() - shown, 0.0), 3600.0), timestamp=None)
    session.execute(update(t.Response).where(t.Response.learner_id == learner, t.Response.event_id == event_id)
                    .values(answer=response.answer, verdict=response.verdict, misconception=response.misconception,
                            hints=response.hints, seconds=response.seconds))
    session.commit()
    tutoring.clear_hints(session, learner, graded.item)


def _context(session: SessionDep, test: dict[str, Any], *, typed: list[str] | None = None) -> dict[str, Any]:
    row = session.get(t.Assessment, test["id"])
    bank_row = session.get(t.ModelVersion, row.bank_version) if row else None
    path = []
    max_items = MAX_ITEMS
    if row is not None and bank_row is not None:
        from metatutor.assessment.bank import ItemBank

        max_items = int(row.state.get("stopping", {}).get("max_items", MAX_ITEMS))
        bank = ItemBank.from_dict(bank_row.params)
        codes = bank.codes(row.state["items"])
        responses = np.asarray(row.state["responses"])
        for n in range(len(codes) + 1):
            est = estimate("eap", responses[:n], bank.a[codes[:n]], bank.b[codes[:n]], bank.c[codes[:n]])
            path.append({"answers": n, "theta": round(float(est.theta), 3), "se": round(float(est.se), 3)})
    item = None
    if test.get("item"):
        item = item_context(session, test["learner"], test["item"], typed=typed)
    return {"test": test, "learner": test["learner"], "item": item, "max_items": max_items,
            "level": level_text(float(test["theta"]), float(test["se"])),
            "stopped": stop_text(test.get("stop_reason"), max_items), "level_spec": charts.level_chart(path, max_items)}
