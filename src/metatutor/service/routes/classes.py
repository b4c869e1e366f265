from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy import select

from metatutor.feedback.class_report import class_report
from metatutor.learner import LearnerState as TrackerState
from metatutor.service import states
from metatutor.service.deps import PrincipalDep, RebuilderDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.http import api_router
from metatutor.service.schemas import PathName
from metatutor.service.tables import Learner

router = api_router(prefix="/api/classes", tags=["classes"])


def class_states(session: SessionDep, model: TrackerDep, settings: SettingsDep, rebuilder: RebuilderDep,
                 teacher: str) -> tuple[dict[str, tuple[TrackerState, int]], list[str]]:
    """The class's learners' (state, answers), and the learners whose state is being rebuilt (left out)."""
    version, tracker = model
    ids = list(session.scalars(select(Learner.id).where(Learner.teacher == teacher).order_by(Learner.id)))
    loaded, updating = {}, []
    for learner_id in ids:
        try:
            loaded[learner_id] = states.read(session, tracker, version, learner_id, inline=settings.rebuild_inline,
                                             keep_history=settings.keep_history, rebuilder=rebuilder)
        except states.StateRebuilding:
            updating.append(learner_id)
    return loaded, updating


@router.get("/{teacher}/report")
def get_class_report(teacher: PathName, session: SessionDep, who: PrincipalDep, model: TrackerDep,
                     settings: SettingsDep, rebuilder: RebuilderDep) -> dict[str, Any]:
    """A teacher's class: skill heatmap data, learners at risk, most-missed items (`updating`: learners
    left out while their state is rebuilt after a model switch)."""
    if who.role == "learner" or (who.role == "teacher" and who.subject != teacher):
        raise HTTPException(403, "only the class's teacher or an admin may see this report")
    loaded, updating = class_states(session, model, settings, rebuilder, teacher)
    report = class_report(model[1], {i: s for i, (s, _) in loaded.items()}).to_dict()
    return {**report, "updating": updating}
