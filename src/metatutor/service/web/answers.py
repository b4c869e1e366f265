"""Queries over stored answers for the dashboard: a learner's recent answers as typed, the misconceptions a
class showed (which, how many learners, example answers), item statements, a learner's last assessment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from metatutor.service import tables as t
from metatutor.service.web.wording import misconception_label

CHUNK = 900  # ids per IN list (SQLite's variable limit is 999 on old builds)


def statements(session: Session, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """id -> the item's meta (statement, parts, ...) for the items that have content."""
    ids, out = sorted(set(item_ids)), {}
    for start in range(0, len(ids), CHUNK):
        for item_id, meta in session.execute(select(t.Item.id, t.Item.meta).where(t.Item.id.in_(ids[start:start + CHUNK]))):
            if meta and meta.get("statement"):
                out[item_id] = meta
    return out


def recent_answers(session: Session, learner_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The learner's last `limit` responses, newest first, with what they typed and the item's statement."""
    rows = session.execute(select(t.Response.event_id, t.Response.item_id, t.Response.correct, t.Response.timestamp,
                                  t.Response.answer, t.Response.verdict, t.Response.misconception, t.Response.hints,
                                  t.Response.seconds)
                           .where(t.Response.learner_id == learner_id).order_by(t.Response.id.desc()).limit(limit)).all()
    metas = statements(session, [r.item_id for r in rows])
    return [{"event": r.event_id, "item": r.item_id, "correct": r.correct, "timestamp": r.timestamp, "answer": r.answer,
             "verdict": r.verdict or ("correct" if r.correct else "incorrect"), "self_report": r.verdict is None,
             "misconception": r.misconception, "hints": r.hints, "seconds": r.seconds,
             "statement": metas.get(r.item_id, {}).get("statement")} for r in rows]


def response_by_event(session: Session, learner_id: str, event_id: str) -> dict[str, Any] | None:
    row = session.execute(select(t.Response.item_id, t.Response.answer, t.Response.verdict, t.Response.misconception,
                                 t.Response.correct)
                          .where(t.Response.learner_id == learner_id, t.Response.event_id == event_id)).first()
    return None if row is None else row._asdict()


@dataclass
class SeenMisconception:
    id: str
    label: str
    feedback: str
    answers: int
    learners: set[str] = field(default_factory=set)
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"answer", "item", "statement", "learner"}


def class_misconceptions(session: Session, learner_ids: Sequence[str], *, examples: int = 3) -> list[SeenMisconception]:
    """The misconceptions the learners' graded answers showed, most learners first, each with up to
    `examples` distinct example answers and the targeted feedback the learners got."""
    ids, seen = list(learner_ids), {}  # type: ignore[var-annotated]
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(select(t.Response.learner_id, t.Response.item_id, t.Response.answer,
                                      t.Response.misconception)
                               .where(t.Response.learner_id.in_(ids[start:start + CHUNK]),
                                      t.Response.misconception.is_not(None)).order_by(t.Response.id.desc())).all()
        for r in rows:
            m = seen.get(r.misconception)
            if m is None:
                m = seen[r.misconception] = SeenMisconception(r.misconception, misconception_label(r.misconception),
                                                              "", 0)
            m.answers += 1
            m.learners.add(r.learner_id)
            if len(m.examples) < examples and all(e["answer"] != r.answer for e in m.examples):
                m.examples.append({"answer": r.answer, "item": r.item_id, "learner": r.learner_id})
    found = sorted(seen.values(), key=lambda m: (-len(m.learners), -m.answers, m.id))
    metas = statements(session, [e["item"] for m in found for e in m.examples])
    for m in found:
        for e in m.examples:
            e["statement"] = metas.get(e["item"], {}).get("statement")
        m.feedback = _feedback(session, m)
    return found


def _feedback(session: Session, seen: SeenMisconception) -> str:
    """The targeted feedback the misconception gives on the first example's item (from its key, on the server)."""
    from metatutor.service import tutoring

    for e in seen.examples:
        try:
            item = tutoring.full_item(tutoring.stored_item(session, e["item"]))
        except Exception:  # an item of an earlier course, or one without content
            continue
        found = item.misconception(seen.id)
        if found is not None:
            return str(found.feedback)
        from metatutor.content.grading import FORM_FEEDBACK

        if seen.id in FORM_FEEDBACK:
            return FORM_FEEDBACK[seen.id]
    return ""


def last_assessment(session: Session, learner_id: str) -> dict[str, Any] | None:
    """The learner's latest finished assessment: its level estimate and standard error."""
    row = session.scalars(select(t.Assessment).where(t.Assessment.learner_id == learner_id,
                                                     t.Assessment.finished.is_(True))
                          .order_by(t.Assessment.id.desc()).limit(1)).first()
    if row is None:
        return None
    bank_row = session.get(t.ModelVersion, row.bank_version)
    if bank_row is None:
        return None
    from metatutor.assessment.bank import ItemBank
    from metatutor.assessment.session import CATSession

    cat = CATSession.from_dict(row.state, ItemBank.from_dict(bank_row.params))
    result = cat.result()
    return {"id": row.id, "theta": float(result["theta"]), "se": float(result["se"]), "questions": result["n_items"]}
