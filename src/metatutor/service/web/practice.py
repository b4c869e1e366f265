"""The learner's practice page: the next item's statement and answer field, graded on the server; the
verdict, targeted feedback on a known misconception, hints on request (each counted), the worked solution
once the attempt is over; the next item with its reason; their plan and what the answer changed in it.
An item without content (a course learned from logs) keeps a right/wrong self-report, labelled as such."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metatutor.errors import ConfigError
from metatutor.feedback.report import SkillStatus, skill_statuses
from metatutor.learner import LearnerState, Tracker
from metatutor.service import states, tutoring
from metatutor.service.deps import RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.schemas import ResponseIn
from metatutor.service.security import Principal, require_learner_access
from metatutor.service.web import answers, charts
from metatutor.service.web.base import (
    Answers,
    Id,
    QueryId,
    Token,
    check_answers,
    is_htmx,
    natural_key,
    page,
    router,
    who,
)
from metatutor.service.web.plan import Plan, make_plan, plan_changes
from metatutor.service.web.wording import misconception_label

CHART_SKILLS = 15  # the mastery chart shows the learner's first skills; the table below it holds them all


def learner_of(person: Principal, learner: str | None) -> str:
    if person.role == "learner":
        if person.subject is None:  # keys without a subject are refused at login; this is a second guard
            raise HTTPException(403, "this key names no learner")
        return person.subject
    if not learner:
        raise HTTPException(422, "choose a learner: ?learner=ID")
    return learner


def read_state(session: SessionDep, model: TrackerDep, settings: SettingsDep, rebuilder: RebuilderDep,
               learner_id: str) -> tuple[LearnerState, int]:
    version, tracker = model
    try:
        return states.read(session, tracker, version, learner_id, inline=settings.rebuild_inline,
                           keep_history=settings.keep_history, rebuilder=rebuilder)
    except states.StateRebuilding as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None


def ordered_skills(tracker: Tracker, state: LearnerState, plan: Plan | None = None) -> list[SkillStatus]:
    """The learner's own skills first (practised, then those on their plan), then the rest; within each,
    prerequisites first and ids in natural order (s2 before s10)."""
    depth: dict[str, int] = {}
    for s in tracker.graph.order():
        depth[s] = 1 + max((depth[p] for p in tracker.graph.prerequisites(s)), default=-1)
    ahead = {s["skill"] for s in plan.skills} | {i["rec"].skill for i in plan.items} if plan else set()

    def key(s: SkillStatus) -> tuple[Any, ...]:
        group = 0 if s.answers else 1 if s.skill in ahead else 2
        return group, depth.get(s.skill, 0), natural_key(s.skill)

    return sorted(skill_statuses(tracker, state), key=key)


def item_context(session: SessionDep, learner: str, item_id: str, *, typed: list[str] | None = None) -> dict[str, Any]:
    """The item as the learner may see it (never the key), with the hints shown so far."""
    try:
        stored = tutoring.stored_item(session, item_id)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    if not stored.has_content:
        return {"id": item_id, "content": False, "skills": stored.skills}
    view = tutoring.learner_view(stored, hints=tutoring.hints_shown(session, learner, item_id))
    return {"id": item_id, "content": True, "view": view, "hints": view["hints"],
            "hints_available": view["hints_available"], "typed": typed or [], "shown": round(time.time(), 3)}


def practice_context(session: SessionDep, tracker: Tracker, state: LearnerState, learner: str, answers_n: int,
                     person: Principal, *, before: LearnerState | None = None, result: dict[str, Any] | None = None,
                     retry: str | None = None, typed: list[str] | None = None) -> dict[str, Any]:
    plan = make_plan(tracker, state, learner)
    rec = plan.first
    item_id = retry or rec.item
    statements = answers.statements(session, [i["rec"].item for i in plan.items] + [item_id])
    changes, plan_moves = [], []
    if before is not None and result is not None and result.get("item") in tracker.item_index:
        m0, m1 = tracker.mastery(before), tracker.mastery(state)
        for k in tracker.course.skills_of(tracker.item_index[result["item"]]):
            changes.append({"skill": str(tracker.skill_ids[k]), "before": float(m0[k]), "after": float(m1[k])})
        plan_moves = plan_changes(make_plan(tracker, before, learner), plan)
    skills = ordered_skills(tracker, state, plan)
    return {"learner": learner, "rec": rec, "reason": plan.items[0]["why"], "retry": retry is not None,
            "item": item_context(session, learner, item_id, typed=typed), "event": uuid.uuid4().hex, "plan": plan,
            "plan_changes": plan_moves, "statements": statements, "changes": changes, "result": result,
            "answers": answers_n, "skills": skills, "technical": person.role != "learner",
            "mastery_spec": charts.mastery_chart([s.__dict__ for s in skills[:CHART_SKILLS]]),
            "more_skills": max(len(skills) - CHART_SKILLS, 0)}


@router.get("/practice", response_class=HTMLResponse)
def practice(request: Request, session: SessionDep, model: TrackerDep, settings: SettingsDep,
             rebuilder: RebuilderDep, learner: QueryId = None, last: QueryId = None, item: QueryId = None) -> Response:
    """The practice page; `last` (an event id) shows the verdict of that answer (a form posted without
    JavaScript comes back here), `item` asks for that item again (after an unreadable answer, or a hint)."""
    person = who(request, session)
    if person.who.role != "learner" and not learner:  # a teacher or an admin picks a learner on the class page
        return RedirectResponse("/class", status_code=303)
    learner_id = learner_of(person.who, learner)
    require_learner_access(session, person.who, learner_id)
    state, n = read_state(session, model, settings, rebuilder, learner_id)
    result = None
    if last is not None:
        stored = answers.response_by_event(session, learner_id, last)
        result = _stored_result(session, stored) if stored else (
            {"verdict": "unreadable", "message": "couldn't read that", "item": item} if item else None)
    context = practice_context(session, model[1], state, learner_id, n, person.who, result=result,
                               retry=item if item and item in model[1].item_index else None)
    return page(request, "practice.html", person, **context)


def _stored_result(session: SessionDep, row: dict[str, Any]) -> dict[str, Any]:
    """The verdict card of a stored answer (a form posted without JavaScript)."""
    out: dict[str, Any] = {"item": row["item_id"], "typed": row["answer"], "counted": True,
                           "verdict": row["verdict"] or ("self-right" if row["correct"] else "self-wrong")}
    try:
        stored = tutoring.stored_item(session, row["item_id"])
    except ConfigError:
        return out
    out["statement"] = stored.meta.get("statement")
    if row["verdict"]:
        out["solution"] = list(stored.meta.get("solution", []))
        out["message"] = "Correct." if row["verdict"] == "correct" else "Not quite."
    if row["misconception"]:
        out["misconception"] = {"label": misconception_label(row["misconception"]),
                                "feedback": _misconception_feedback(stored, row["misconception"])}
    return out


def _misconception_feedback(stored: tutoring.StoredItem, misconception_id: str) -> str:
    from metatutor.content.grading import FORM_FEEDBACK

    try:
        found = tutoring.full_item(stored).misconception(misconception_id)
    except Exception:
        found = None
    return str(found.feedback) if found is not None else FORM_FEEDBACK.get(misconception_id, "")


@router.post("/practice/answer", response_class=HTMLResponse)
def practice_answer(request: Request, session: SessionDep, model: TrackerDep, settings: SettingsDep,
                    rebuilder: RebuilderDep, learner: Id, item: Id, event: Id, csrf: Token = None,
                    correct: Annotated[int | None, Form(ge=0, le=1)] = None, answer: Answers = None,
                    shown: Annotated[float | None, Form(ge=0, le=1e11)] = None) -> Response:
    """A typed answer (graded on the server) or, for an item without content, a right/wrong self-report."""
    person = who(request, session, csrf)
    require_learner_access(session, person.who, learner)
    version, tracker = model
    typed = check_answers(answer)
    if item not in tracker.item_index:
        raise HTTPException(422, f"unknown item {item!r}")
    seconds = None if shown is None else min(max(time.time() - shown, 0.0), 3600.0)
    if typed is not None:
        stored = tutoring.stored_item(session, item)
        if not stored.has_content:
            raise HTTPException(422, f"item {item!r} has no content to answer: say whether you got it right")
        try:
            graded = tutoring.grade_attempt(session, learner, stored, typed if len(typed) > 1 else typed[0])
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        result = _graded_result(stored, graded)
        response: ResponseIn | None = (tutoring.as_response(graded, event, seconds=seconds, timestamp=None)
                                       if graded.counts else None)
    elif correct is not None:
        result = {"item": item, "verdict": "self-right" if correct else "self-wrong", "counted": True}
        response = ResponseIn(event_id=event, item=item, correct=bool(correct))
    else:
        raise HTTPException(422, "send an answer (or, for an item without content, correct=0 or 1)")
    before: list[LearnerState] = []  # the state before the answer, as ingest reads it
    if response is not None:
        try:
            done = states.ingest(session, tracker, version, {learner: [response]}, keep_history=settings.keep_history,
                                 inline=settings.rebuild_inline, rebuilder=rebuilder,
                                 on_loaded=lambda _, s: before.append(tracker.copy_state(s)))[learner]
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        if done.state is None:
            raise HTTPException(503, f"learner {learner!r}'s state is being rebuilt after a model switch; retry "
                                "shortly", headers={"Retry-After": "5"})
        if typed is not None and done.stored:
            tutoring.clear_hints(session, learner, item)
        state, n = done.state, done.answers
    else:
        state, n = read_state(session, model, settings, rebuilder, learner)
    if not is_htmx(request):  # a plain form post (no JavaScript): show the page again, with the verdict
        query = {"learner": learner, "last": event, **({"item": item} if response is None else {})}
        return RedirectResponse(f"/practice?{urlencode(query)}", status_code=303)
    context = practice_context(session, tracker, state, learner, n, person.who, before=before[-1] if before else None,
                               result=result, retry=item if response is None else None,
                               typed=typed if response is None else None)
    return page(request, "_practice_panel.html", person, **context)


def _graded_result(stored: tutoring.StoredItem, graded: Any) -> dict[str, Any]:
    counted = bool(graded.counts)
    normalized = graded.normalized
    if isinstance(normalized, tuple | list):
        normalized = " | ".join(str(v) for v in normalized)
    out: dict[str, Any] = {"item": stored.id, "statement": stored.meta.get("statement"),
                           "verdict": graded.verdict.value, "message": graded.message, "counted": counted,
                           "typed": graded.raw if isinstance(graded.raw, str) else " | ".join(graded.raw),
                           "normalized": None if normalized is None else str(normalized),
                           "hints_used": graded.hints_used,
                           "solution": list(stored.meta.get("solution", [])) if counted else None}
    if graded.misconception is not None:
        out["misconception"] = {"label": misconception_label(graded.misconception.id),
                                "feedback": graded.misconception.feedback}
    return out


@router.post("/practice/hint", response_class=HTMLResponse)
def practice_hint(request: Request, session: SessionDep, learner: Id, item: Id, csrf: Token = None) -> Response:
    """Show the next hint of the item (counted: the next answer to it carries it)."""
    person = who(request, session, csrf)
    require_learner_access(session, person.who, learner)
    try:
        stored = tutoring.stored_item(session, item)
        tutoring.next_hint(session, learner, stored)
    except ConfigError as exc:
        raise HTTPException(409, str(exc)) from None
    if not is_htmx(request):
        return RedirectResponse(f"/practice?{urlencode({'learner': learner, 'item': item})}", status_code=303)
    return page(request, "_hints.html", person, learner=learner, item=item_context(session, learner, item))

