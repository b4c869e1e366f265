from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from metatutor.feedback.class_report import class_report
from metatutor.service import store
from metatutor.service.deps import PrincipalDep, SessionDep, TrackerDep
from metatutor.service.tables import Learner

router = APIRouter(prefix="/api/classes", tags=["classes"])


@router.get("/{teacher}/report")
def get_class_report(teacher: str, session: SessionDep, who: PrincipalDep, model: TrackerDep) -> dict[str, Any]:
    """A teacher's class: skill heatmap data, learners at risk, most-missed items."""
    if who.role == "learner" or (who.role == "teacher" and who.subject != teacher):
        raise HTTPException(403, "only the class's teacher or an admin may see this report")
    version, tracker = model
    ids = list(session.scalars(select(Learner.id).where(Learner.teacher == teacher).order_by(Learner.id)))
    states = {i: store.load_state(session, tracker, version, i) for i in ids}
    return class_report(tracker, states).to_dict()
