"""Items with content for a learner: the item as they may see it, hints one at a time, and typed answers
graded on the server (see `tutoring`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query
from fastapi import Path as PathParam
from pydantic import AfterValidator

from metatutor.learner import LearnerState as TrackerState
from metatutor.service import states, tutoring
from metatutor.service.deps import PrincipalDep, RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.fields import check_name
from metatutor.service.http import api_router
from metatutor.service.routes.learners import _recommend
from metatutor.service.schemas import (
    AttemptIn,
    AttemptPublic,
    HintPublic,
    ItemView,
    MisconceptionPublic,
    PathName,
    PolicyName,
)
from metatutor.service.security import require_learner_access

router = api_router(prefix="/api/learners", tags=["items"])
ItemName = Annotated[str, PathParam(min_length=1, max_length=200, description="An item id."),
                     AfterValidator(check_name)]


@router.get("/{learner_id}/items/{item_id}", response_model=ItemView)
def get_item(learner_id: PathName, item_id: ItemName, session: SessionDep, who: PrincipalDep) -> ItemView:
    """The item as the learner may see it: statement, answer fields, the hints shown so far (never the key;
    the solution comes with the graded answer)."""
    require_learner_access(session, who, learner_id)
    stored = tutoring.stored_item(session, item_id)
    return ItemView(**tutoring.learner_view(stored, hints=tutoring.hints_shown(session, learner_id, item_id)))


@router.post("/{learner_id}/items/{item_id}/hints", response_model=HintPublic)
def post_hint(learner_id: PathName, item_id: ItemName, session: SessionDep, who: PrincipalDep) -> HintPublic:
    """Show the next hint of the item; the learner's next answer to it counts every hint shown."""
    require_learner_access(session, who, learner_id)
    stored = tutoring.stored_item(session, item_id)
    try:
        hint, shown = tutoring.next_hint(session, learner_id, stored)
    except Exception as exc:
        raise HTTPException(409, str(exc)) from None
    return HintPublic(hint=hint, shown=shown, available=len(stored.meta.get("hints", [])))


@router.post("/{learner_id}/attempts", response_model=AttemptPublic)
def post_attempt(learner_id: PathName, body: AttemptIn, session: SessionDep, who: PrincipalDep, model: TrackerDep,
                 settings: SettingsDep, rebuilder: RebuilderDep,
                 next: Annotated[PolicyName | None, Query(description="Also recommend the next item with this "
                                                          "policy.")] = None) -> AttemptPublic:
    """Grade a typed answer on the server. A readable answer is stored as a response (with the raw answer,
    verdict, misconception, hints and time) and updates the learner's state; an unreadable one is not
    stored and does not count as wrong. Replaying an event id grades nothing again."""
    require_learner_access(session, who, learner_id)
    stored = tutoring.stored_item(session, body.item)
    version, tracker = model
    result = tutoring.grade_attempt(session, learner_id, stored, body.answer)
    answered = result.counts
    done = None
    if answered:
        response = tutoring.as_response(result, body.event_id, seconds=body.seconds, timestamp=body.timestamp)
        done = states.ingest(session, tracker, version, {learner_id: [response]}, keep_history=settings.keep_history,
                             inline=settings.rebuild_inline, rebuilder=rebuilder)[learner_id]
        if done.stored:
            tutoring.clear_hints(session, learner_id, body.item)
    state: TrackerState | None
    if done is None:
        state, answers = states.read(session, tracker, version, learner_id, inline=settings.rebuild_inline,
                                     keep_history=settings.keep_history, rebuilder=rebuilder)
        stored_now = 0
    else:
        state, answers, stored_now = done.state, done.answers, done.stored
    rec = None if next is None or state is None else _recommend(tracker, state, learner_id, next)
    misconception = None if result.misconception is None else MisconceptionPublic(
        id=result.misconception.id, feedback=result.misconception.feedback)
    normalized = result.normalized if not isinstance(result.normalized, tuple) else list(result.normalized)
    return AttemptPublic(verdict=result.verdict.value, message=result.message, misconception=misconception,
                         normalized=normalized, hints_used=result.hints_used,
                         solution=list(stored.meta.get("solution", [])) if answered else None, next=rec,
                         stored=stored_now, answers=answers, updating=answered and state is None)
