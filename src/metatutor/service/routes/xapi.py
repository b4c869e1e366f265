"""xAPI: `answered` statements become responses (actor.account.name = learner, object.id = item,
result.success = correct, statement id = event id, so a re-sent statement is stored once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from metatutor.service import store
from metatutor.service.deps import PrincipalDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.schemas import ResponseIn
from metatutor.service.security import require_learner_access

router = APIRouter(prefix="/api/xapi", tags=["xapi"])
ANSWERED = "http://adlnet.gov/expapi/verbs/answered"


class Account(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    homePage: str | None = None


class Actor(BaseModel):
    account: Account


class Verb(BaseModel):
    id: str


class Activity(BaseModel):
    id: str = Field(min_length=1, max_length=200)


class Result(BaseModel):
    success: bool


class Statement(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    actor: Actor
    verb: Verb
    object: Activity
    result: Result
    timestamp: datetime | None = None


@router.post("/statements")
def post_statements(statements: list[Statement], session: SessionDep, who: PrincipalDep, model: TrackerDep,
                    settings: SettingsDep) -> dict[str, Any]:
    """Ingest xAPI `answered` statements (other verbs are a 422); returns counts per learner."""
    wrong = sorted({s.verb.id for s in statements if s.verb.id != ANSWERED})
    if wrong:
        raise HTTPException(422, f"only the verb {ANSWERED} is accepted; got {', '.join(wrong)}")
    version, tracker = model
    by_learner: dict[str, list[ResponseIn]] = {}
    for s in statements:
        item = s.object.id.rstrip("/").rsplit("/", 1)[-1]  # an activity IRI ends with the item id
        when = s.timestamp.timestamp() if s.timestamp else None
        by_learner.setdefault(s.actor.account.name, []).append(
            ResponseIn(event_id=s.id, item=item, correct=s.result.success, timestamp=when))
    out = {}
    for learner, events in by_learner.items():
        require_learner_access(session, who, learner)
        out[learner], _ = store.ingest(session, tracker, version, learner, events,
                                       keep_history=settings.keep_history)
    return out
