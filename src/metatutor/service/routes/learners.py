from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response

from metatutor.feedback.report import learner_report, skill_statuses
from metatutor.policy.path import learning_path
from metatutor.policy.tracker import LearnerState as TrackerState
from metatutor.policy.tracker import SkillTracker
from metatutor.service import kt, store
from metatutor.service.deps import PrincipalDep, SessionDep, SettingsDep, TrackerDep
from metatutor.service.schemas import (
    IngestPublic,
    LearnerIn,
    LearnerPublic,
    PolicyName,
    RecommendationPublic,
    ResponsesIn,
    StatePublic,
)
from metatutor.service.security import require_learner_access
from metatutor.service.tables import Learner

router = APIRouter(prefix="/api/learners", tags=["learners"])


@router.post("", response_model=LearnerPublic, status_code=201)
def create_learner(body: LearnerIn, session: SessionDep, who: PrincipalDep) -> LearnerPublic:
    """Add a learner (admin; a teacher adds learners to their own classes)."""
    if who.role == "learner":
        raise HTTPException(403, "learners cannot create learners")
    teacher = who.subject if who.role == "teacher" else body.teacher
    if session.get(Learner, body.id) is not None:
        raise HTTPException(409, f"learner {body.id!r} exists")
    session.add(Learner(id=body.id, teacher=teacher))
    session.commit()
    return LearnerPublic(id=body.id, teacher=teacher)


@router.delete("/{learner_id}", status_code=204)
def delete_learner(learner_id: str, session: SessionDep, who: PrincipalDep, request: Request) -> None:
    """Delete a learner and every trace of them (responses, state, keys)."""
    require_learner_access(session, who, learner_id)
    if who.role == "learner":
        raise HTTPException(403, "ask your teacher or an admin to delete your data")
    store.delete_learner(session, learner_id)
    request.app.state.keys.forget(learner_id)


@router.post("/{learner_id}/responses", response_model=IngestPublic)
async def post_responses(learner_id: str, body: ResponsesIn, session: SessionDep, who: PrincipalDep,
                   model: TrackerDep, settings: SettingsDep,
                   next: Annotated[PolicyName | None, Query(description="Also recommend the next item with this "
                                                            "policy (saves a round trip).")] = None) -> IngestPublic:
    """Store answers (idempotent by event_id) and update the learner's state online."""
    require_learner_access(session, who, learner_id)
    version, tracker = model
    out, state = store.ingest(session, tracker, version, learner_id, body.responses,
                              keep_history=settings.keep_history)
    return IngestPublic(**out, next=None if next is None else _recommend(tracker, state, learner_id, next))


def _recommend(tracker: SkillTracker, state: TrackerState, learner_id: str, policy: str) -> RecommendationPublic:
    rec = store.recommend(tracker, state, learner_id, policy)
    return RecommendationPublic(**{k: v for k, v in rec.to_dict().items() if k != "item_index"})


@router.get("/{learner_id}/state", response_model=StatePublic)
async def get_state(learner_id: str, session: SessionDep, who: PrincipalDep, model: TrackerDep) -> StatePublic:
    """Mastery per skill with its uncertainty and status."""
    require_learner_access(session, who, learner_id)
    version, tracker = model
    state, answers = store.current_state(session, tracker, version, learner_id)
    skills = [asdict(s) for s in skill_statuses(tracker, state)]
    return StatePublic(learner=learner_id, answers=answers, ability=state.ability,
                       skills=skills)  # type: ignore[arg-type]


@router.get("/{learner_id}/next", response_model=RecommendationPublic)
async def get_next(learner_id: str, session: SessionDep, who: PrincipalDep, model: TrackerDep,
             policy: PolicyName = "default") -> RecommendationPublic:
    """The next item to practise, with the reason."""
    require_learner_access(session, who, learner_id)
    version, tracker = model
    return _recommend(tracker, store.load_state(session, tracker, version, learner_id), learner_id, policy)


@router.get("/{learner_id}/report")
def get_report(learner_id: str, session: SessionDep, who: PrincipalDep, model: TrackerDep) -> dict[str, Any]:
    """The learner report: mastery, weak and blocked skills, mistakes, next steps with reasons, path."""
    require_learner_access(session, who, learner_id)
    version, tracker = model
    state = store.load_state(session, tracker, version, learner_id)
    return learner_report(tracker, state, learner=learner_id, catalog=store.catalog(session)).to_dict()


@router.get("/{learner_id}/predict", response_model=dict[str, float])
def predict(learner_id: str, session: SessionDep, who: PrincipalDep, model: TrackerDep, request: Request,
            items: Annotated[list[str] | None, Query(min_length=1, max_length=1000, description="Items to score "
                                                     "(`?items=a&items=b`); none: every item of the course.")] = None,
            by: Annotated[Literal["tracker", "kt"], Query(description="The skill tracker, or the active "
                                                      "knowledge-tracing model (POST /api/models/kt).")] = "tracker",
            ) -> Response:
    """Predicted P(correct) now on the given items (default: all of the course's), by the skill tracker
    or, with `by=kt`, by the active knowledge-tracing model (as the learner's next response)."""
    require_learner_access(session, who, learner_id)
    version, tracker = model
    if items is None:
        items = [str(i) for i in tracker.item_ids]
    unknown = sorted({i for i in items if i not in tracker.item_index})
    if unknown:
        raise HTTPException(422, f"unknown item(s) {', '.join(unknown[:10])}")
    if by == "kt":
        kt_version, served = request.app.state.kt.get(session)
        state, _ = kt.learner_state(session, served, kt_version, learner_id)
        p = kt.predict(served, state, tracker, items)
    else:
        p = tracker.p_correct(store.load_state(session, tracker, version, learner_id))[
            [tracker.item_index[i] for i in items]]
    # the whole course can be 20k items: written by orjson, without a per-value validation pass
    return Response(orjson.dumps(dict(zip(items, np.round(p, 4).tolist(), strict=True))),
                    media_type="application/json")


@router.get("/{learner_id}/kt")
def kt_state(learner_id: str, session: SessionDep, who: PrincipalDep, model: TrackerDep,
             request: Request) -> dict[str, Any]:
    """The active knowledge-tracing model's view of the learner: per skill, the mean predicted P(correct)
    over the course's items of that skill, as the next response."""
    require_learner_access(session, who, learner_id)
    _, tracker = model
    kt_version, served = request.app.state.kt.get(session)
    state, answers = kt.learner_state(session, served, kt_version, learner_id)
    return {"learner": learner_id, "model_version": kt_version, "model": served.name, "answers": answers,
            "skills": kt.skill_predictions(served, state, tracker)}


@router.get("/{learner_id}/path")
async def path(learner_id: str, session: SessionDep, who: PrincipalDep, model: TrackerDep,
               goals: Annotated[list[str] | None, Query(max_length=1000)] = None) -> list[dict[str, Any]]:
    """The learning path to chosen goal skills (`?goals=s1&goals=s2`; default: the learner's goals): the
    unmastered skills and their prerequisites in order, with the answers each is expected to take."""
    require_learner_access(session, who, learner_id)
    version, tracker = model
    if goals is not None:
        unknown = sorted(set(goals) - set(tracker.graph.skills))
        if unknown:
            raise HTTPException(422, f"unknown skill(s) {', '.join(unknown[:10])}")
    state = store.load_state(session, tracker, version, learner_id)
    return [step.to_dict() for step in learning_path(tracker, state, goals)]
