"""Items with content in the service: what a learner may see of an item, hints shown one at a time and
counted on the server, and answers graded on the server (never by the client).

An answer is graded against the item's key (a generated item's key is rebuilt from its id; an authored
item's key is kept in its stored meta and never sent). A readable answer becomes a response that keeps
the raw answer, the verdict, the misconception it showed, the hints shown before it and the seconds it
took. What the learner model learns from it follows ASSISTments' scoring of its logs: correct means
correct without help, so a correct answer after a hint counts as not correct for the model (the verdict
the learner sees is still "correct"). An answer that cannot be read is not a response: the learner is
told "couldn't read that" and may try again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from metatutor.errors import ConfigError
from metatutor.service import tables as t
from metatutor.service.schemas import ResponseIn

MAX_ANSWER = 1_000  # characters of one typed answer (all blanks together)


class GradedResponse(ResponseIn):
    """A response the server graded, with what the responses table keeps of it."""

    answer: str | None = None
    verdict: str | None = None
    misconception: str | None = None
    hints: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class StoredItem:
    id: str
    skills: list[str]
    meta: dict[str, Any]

    @property
    def has_content(self) -> bool:
        return bool(self.meta.get("statement"))


def stored_item(session: Session, item_id: str) -> StoredItem:
    row = session.execute(select(t.Item.skills, t.Item.meta).where(t.Item.id == item_id)).first()
    if row is None:
        raise ConfigError(f"unknown item {item_id!r}")
    return StoredItem(item_id, list(row.skills), dict(row.meta or {}))


@lru_cache(maxsize=20_000)
def _generated(item_id: str) -> Any:
    from metatutor.content import generate

    return generate(item_id)


def full_item(stored: StoredItem) -> Any:
    """The item with its key, for grading (a generated one rebuilt from its id, cached)."""
    from metatutor.content import is_generated, resolve_item

    if not stored.has_content:
        raise ConfigError(f"item {stored.id!r} has no content to answer: post right/wrong as a response")
    return _generated(stored.id) if is_generated(stored.id) else resolve_item(stored.id, stored.meta)


def hints_shown(session: Session, learner_id: str, item_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(t.HintView).where(
        t.HintView.learner_id == learner_id, t.HintView.item_id == item_id)) or 0)


def learner_view(stored: StoredItem, *, hints: int, answered: bool = False) -> dict[str, Any]:
    """What the learner may see: the statement and answer fields, the hints shown so far, the solution only
    once the attempt is over; never the key."""
    from metatutor.content import learner_view as view

    out = view(stored.meta, answered=answered, hints=hints)
    out.pop("difficulty", None)
    return {**out, "id": stored.id, "skills": stored.skills, "hints_available": len(stored.meta.get("hints", []))}


def next_hint(session: Session, learner_id: str, stored: StoredItem) -> tuple[str, int]:
    """Show the learner the next hint of the item (recorded: the next answer counts it); (hint, how many
    shown now). `ConfigError` when every hint is shown."""
    hints = list(stored.meta.get("hints", []))
    shown = hints_shown(session, learner_id, stored.id)
    if shown >= len(hints):
        raise ConfigError(f"item {stored.id!r} has no more hints ({len(hints)} in all)")
    session.add(t.HintView(learner_id=learner_id, item_id=stored.id, shown=time.time()))
    session.commit()
    return hints[shown], shown + 1


def grade_attempt(session: Session, learner_id: str, stored: StoredItem, answer: str | list[str]) -> Any:
    """Grade a typed answer (bounded in time and size by the content package's parser)."""
    from metatutor.content import grade

    size = len(answer) if isinstance(answer, str) else sum(len(a) for a in answer)
    if size > MAX_ANSWER:
        raise ConfigError(f"an answer is at most {MAX_ANSWER} characters; got {size}")
    return grade(full_item(stored), answer, hints_used=hints_shown(session, learner_id, stored.id))


def as_response(result: Any, event_id: str, *, seconds: float | None, timestamp: float | None) -> GradedResponse:
    """The response a readable graded answer becomes (see the module docstring for `correct`)."""
    raw = result.raw if isinstance(result.raw, str) else " | ".join(result.raw)
    return GradedResponse(event_id=event_id, item=result.item, correct=bool(result.correct and result.hints_used == 0),
                          timestamp=timestamp, answer=raw[:MAX_ANSWER], verdict=result.verdict.value,
                          misconception=result.misconception.id if result.misconception else None,
                          hints=result.hints_used, seconds=seconds)


def clear_hints(session: Session, learner_id: str, item_id: str) -> None:
    """The hints shown on the item were counted by an answer: the next attempt starts without them."""
    session.execute(delete(t.HintView).where(t.HintView.learner_id == learner_id, t.HintView.item_id == item_id))
    session.commit()
