"""Adaptive assessments over HTTP: an item bank (calibrated from stored responses or given), then
resumable CAT sessions whose whole state lives in the database; every answer is also a response."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from fastapi import HTTPException
from pydantic import Field
from sqlalchemy import select

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.selection import SelectorConfig
from metatutor.assessment.session import CATSession
from metatutor.assessment.stopping import StoppingRule
from metatutor.service import states, store, versions
from metatutor.service import tables as t
from metatutor.service.deps import PrincipalDep, RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.fields import Count, Finite, Flag, Name
from metatutor.service.http import JSONBody, api_router, body_doc, validated
from metatutor.service.schemas import Body, PathName, ResponseIn, RowId
from metatutor.service.security import require_admin, require_learner_access

router = api_router(tags=["assessments"])


class BankItem(Body):
    id: Name
    a: Finite = Field(1.0, gt=0, le=20)
    b: Finite = Field(ge=-20, le=20)
    c: Finite = Field(0.0, ge=0, lt=1)


class BankIn(Body):
    kind: Literal["1pl", "2pl", "3pl"] = "2pl"
    # given; calibrated from stored responses when omitted
    items: list[BankItem] | None = Field(None, min_length=1, max_length=100_000)


class AssessmentIn(Body):
    max_items: Count = Field(20, ge=1, le=200)
    min_items: Count = Field(1, ge=0, le=200)
    se_target: Finite | None = Field(None, gt=0, le=10)
    criterion: Literal["mfi", "kl", "random"] = "mfi"


class AnswerIn(Body):
    item: Name
    correct: Flag


def _bank(session: SessionDep) -> tuple[int, ItemBank]:
    row = session.scalar(select(t.ModelVersion).where(t.ModelVersion.active.is_(True), t.ModelVersion.kind == "bank"))
    if row is None:
        raise HTTPException(409, "no item bank yet: POST /api/assessments/bank first")
    return row.id, ItemBank.from_dict(row.params)


def _public(row: t.Assessment, cat: CATSession) -> dict[str, Any]:
    return {"id": row.id, "learner": row.learner_id, "item": cat.next_item(), **cat.result()}


@router.post("/api/assessments/bank", openapi_extra=body_doc(BankIn))
def put_bank(session: SessionDep, who: PrincipalDep, raw: JSONBody) -> dict[str, Any]:
    """Calibrate (or load) the item bank; it becomes the active bank version."""
    require_admin(who)
    body = validated(BankIn, raw)
    if body.items is not None:
        bank = ItemBank.from_parameters(np.array([i.a for i in body.items]), np.array([i.b for i in body.items]),
                                        np.array([i.c for i in body.items]), item_ids=np.array([i.id for i in body.items]),
                                        kind=body.kind)
    else:
        bank = ItemBank.calibrate(store.stored_responses(session), kind=body.kind)
    if not np.isfinite(np.concatenate([bank.a, bank.b, bank.c])).all():
        raise HTTPException(422, "the calibration gave non-finite item parameters; is there enough data?")
    version = versions.activate(session, "bank", bank.to_dict())
    return {"bank_version": version, "items": len(bank), "kind": body.kind}


@router.post("/api/learners/{learner_id}/assessments", status_code=201)
def start(learner_id: PathName, body: AssessmentIn, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Start an adaptive test; the answer gives the first item."""
    require_learner_access(session, who, learner_id)
    version, bank = _bank(session)
    if body.min_items > body.max_items:
        raise HTTPException(422, "min_items must not exceed max_items")
    cat = CATSession(bank, selector=SelectorConfig(criterion=body.criterion),
                     stopping=StoppingRule(max_items=body.max_items, min_items=body.min_items, se_target=body.se_target),
                     seed=int(np.random.default_rng().integers(2**31)))
    cat.next_item()
    row = t.Assessment(learner_id=learner_id, bank_version=version, state=cat.to_dict(), finished=False)
    session.add(row)
    session.commit()
    return _public(row, cat)


def _load(session: SessionDep, who: PrincipalDep, assessment_id: int) -> tuple[t.Assessment, CATSession]:
    row = session.get(t.Assessment, assessment_id)
    if row is None:
        raise HTTPException(404, f"no assessment {assessment_id}")
    require_learner_access(session, who, row.learner_id)
    bank_row = session.get(t.ModelVersion, row.bank_version)
    assert bank_row is not None  # model versions are never deleted
    return row, CATSession.from_dict(row.state, ItemBank.from_dict(bank_row.params))


@router.get("/api/assessments/{assessment_id}")
def get_assessment(assessment_id: RowId, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Where the test stands: the pending item, θ̂ and its SE."""
    row, cat = _load(session, who, assessment_id)
    return _public(row, cat)


@router.post("/api/assessments/{assessment_id}/answers")
def answer(assessment_id: RowId, body: AnswerIn, session: SessionDep, who: PrincipalDep, model: TrackerDep,
           settings: SettingsDep, rebuilder: RebuilderDep) -> dict[str, Any]:
    """Answer the pending item; returns the next one (null when finished) and the estimate."""
    row, cat = _load(session, who, assessment_id)
    if cat.finished:
        raise HTTPException(409, "this assessment has finished")
    n = len(cat.items)
    cat.answer(body.item, int(body.correct))
    cat.next_item()
    row.state, row.finished = cat.to_dict(), cat.finished
    session.commit()
    version, tracker = model
    if body.item in tracker.item_index:  # the answer also feeds the learner model
        states.ingest(session, tracker, version,
                      {row.learner_id: [ResponseIn(event_id=f"cat-{row.id}-{n}", item=body.item, correct=body.correct)]},
                      keep_history=settings.keep_history, inline=settings.rebuild_inline, rebuilder=rebuilder)
    return _public(row, cat)
