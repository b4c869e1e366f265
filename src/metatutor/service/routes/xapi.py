"""xAPI: `answered` statements become responses (actor.account.name = learner, object.id = item,
result.success = correct, statement id = event id, so a re-sent statement is stored once). A batch is
accepted whole or not at all: every learner it names is checked first, and it is stored in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException
from pydantic import AfterValidator, Field

from metatutor.service import states
from metatutor.service.deps import PrincipalDep, RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.fields import Name, check_time
from metatutor.service.http import api_router
from metatutor.service.routes.learners import check_batch
from metatutor.service.schemas import Body, ResponseIn
from metatutor.service.security import require_learner_access

router = api_router(prefix="/api/xapi", tags=["xapi"])
ANSWERED = "http://adlnet.gov/expapi/verbs/answered"


class Account(Body):
    name: Name
    homePage: Annotated[str, Field(max_length=2000)] | None = None


class Actor(Body):
    account: Account


class Verb(Body):
    id: Annotated[str, Field(min_length=1, max_length=2000)]


class Activity(Body):
    id: Annotated[str, Field(min_length=1, max_length=2000)]


class Result(Body):
    success: bool = Field(strict=True)


def _when(value: datetime | None) -> datetime | None:
    if value is not None:
        try:
            check_time(value.timestamp())
        except (OverflowError, OSError):
            raise ValueError("the timestamp is out of range") from None
    return value


class Statement(Body):
    id: Name
    actor: Actor
    verb: Verb
    object: Activity
    result: Result
    timestamp: Annotated[datetime, AfterValidator(_when)] | None = None


def _item(activity: str) -> str:
    item = activity.rstrip("/").rsplit("/", 1)[-1]  # an activity IRI ends with the item id
    if not item or len(item) > 200:
        raise HTTPException(422, f"cannot read an item id from the activity {activity[:200]!r}")
    return item


@router.post("/statements")
def post_statements(statements: Annotated[list[Statement], Field(min_length=1, max_length=10_000)],
                    session: SessionDep, who: PrincipalDep, model: TrackerDep, settings: SettingsDep,
                    rebuilder: RebuilderDep) -> dict[str, Any]:
    """Ingest xAPI `answered` statements (other verbs are a 422); returns counts per learner. All or nothing."""
    check_batch(len(statements), settings)
    wrong = sorted({s.verb.id for s in statements if s.verb.id != ANSWERED})
    if wrong:
        raise HTTPException(422, f"only the verb {ANSWERED} is accepted; got {', '.join(wrong)[:500]}")
    version, tracker = model
    by_learner: dict[str, list[ResponseIn]] = {}
    for s in statements:
        when = s.timestamp.timestamp() if s.timestamp else None
        by_learner.setdefault(s.actor.account.name, []).append(
            ResponseIn(event_id=s.id, item=_item(s.object.id), correct=s.result.success, timestamp=when))
    for learner in by_learner:  # every learner checked before anything is stored
        require_learner_access(session, who, learner)
    done = states.ingest(session, tracker, version, by_learner, keep_history=settings.keep_history,
                         inline=settings.rebuild_inline, rebuilder=rebuilder)
    return {learner: d.counts() for learner, d in done.items()}
